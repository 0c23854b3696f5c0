package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// Platform names as they appear in manifest file names.
const (
	// PlatformLinux covers Amazon Linux, RHEL and its rebuilds, SLES,
	// Flatcar, Bottlerocket and every Linux not named otherwise.
	PlatformLinux = "linux"
	// PlatformUbuntu covers Ubuntu, Debian, Raspbian and their derivatives.
	PlatformUbuntu = "ubuntu"
	// PlatformDarwin is macOS.
	PlatformDarwin = "darwin"
	// PlatformWindows is Windows.
	PlatformWindows = "windows"
)

// ErrUnsupportedOS is wrapped by DetectPlatform's error on an operating system
// that has no SSM agent platform.
var ErrUnsupportedOS = errors.New("unsupported operating system")

// A Platform selects a package's file in the manifest.
type Platform struct {
	// Name is the platform name: PlatformLinux, PlatformUbuntu,
	// PlatformDarwin, PlatformWindows, or another name a custom manifest uses.
	Name string
	// Arch is the architecture in Go's GOARCH spelling: amd64, 386, arm64, arm.
	Arch string
}

// String returns "name/arch".
func (p Platform) String() string { return p.Name + "/" + p.Arch }

// FileName returns the manifest file name of package pkg for p:
// {pkg}-{name}-{arch}.zip on Windows and {pkg}-{name}-{arch}.tar.gz
// everywhere else, such as amazon-ssm-agent-linux-amd64.tar.gz.
func (p Platform) FileName(pkg string) string {
	return string(p.appendFileName(nil, pkg))
}

func (p Platform) appendFileName(b []byte, pkg string) []byte {
	ext := ".tar.gz"
	if p.Name == PlatformWindows {
		ext = ".zip"
	}
	b = append(b, pkg...)
	b = append(b, '-')
	b = append(b, p.Name...)
	b = append(b, '-')
	b = append(b, p.Arch...)
	return append(b, ext...)
}

// Default locations of the os-release file, in the order they are tried.
const (
	osReleasePath         = "/etc/os-release"
	osReleaseFallbackPath = "/usr/lib/os-release"
)

// DetectPlatform returns the platform of the running host as SSM's
// manifest names it: windows on Windows, darwin on macOS, and on Linux the
// platform its os-release file names (see LinuxPlatform) — which follows
// SSM's convention that Ubuntu, Debian and their derivatives are "ubuntu",
// every other Linux "linux". osRelease is the path of that file; empty
// means /etc/os-release, or /usr/lib/os-release if that does not exist. A
// Linux without an os-release file is PlatformLinux.
//
// A distribution of one's own that ships a single Linux package (say
// myagent-linux-amd64.tar.gz for every distribution) wants OSPlatform
// instead, which never says "ubuntu".
func DetectPlatform(osRelease string) (Platform, error) {
	return detectPlatform(runtime.GOOS, runtime.GOARCH, osRelease)
}

// OSPlatform returns the platform named by the operating system alone:
// PlatformLinux on every Linux, PlatformDarwin, PlatformWindows, with the
// running architecture. Use it where a manifest has one file per operating
// system, not SSM's per-distribution ones.
func OSPlatform() Platform {
	name := runtime.GOOS
	if name == "android" {
		name = PlatformLinux
	}
	return Platform{Name: name, Arch: runtime.GOARCH}
}

func detectPlatform(goos, goarch, osRelease string) (Platform, error) {
	p := Platform{Arch: goarch}
	switch goos {
	case "windows":
		p.Name = PlatformWindows
	case "darwin":
		p.Name = PlatformDarwin
	case "linux", "android":
		vars, err := readOSRelease(osRelease)
		if err != nil {
			return Platform{}, err
		}
		p.Name = LinuxPlatform(vars["ID"], strings.Fields(vars["ID_LIKE"]))
	default:
		return Platform{}, fmt.Errorf("manifest: %w %q", ErrUnsupportedOS, goos)
	}
	return p, nil
}

// readOSRelease reads the os-release variables at path, or at the default
// locations when path is empty. A missing default file yields no variables.
func readOSRelease(path string) (map[string]string, error) {
	paths := []string{path}
	if path == "" {
		paths = []string{osReleasePath, osReleaseFallbackPath}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) && path == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("manifest: detect platform: %w", err)
		}
		vars, err := ParseOSRelease(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("manifest: detect platform: %s: %w", p, err)
		}
		return vars, nil
	}
	return nil, nil
}

// linuxIDs maps os-release IDs to platform names.
var linuxIDs = map[string]string{
	"ubuntu":       PlatformUbuntu,
	"debian":       PlatformUbuntu,
	"raspbian":     PlatformUbuntu,
	"amzn":         PlatformLinux,
	"rhel":         PlatformLinux,
	"centos":       PlatformLinux,
	"rocky":        PlatformLinux,
	"almalinux":    PlatformLinux,
	"ol":           PlatformLinux,
	"fedora":       PlatformLinux,
	"sles":         PlatformLinux,
	"sles_sap":     PlatformLinux,
	"suse":         PlatformLinux,
	"opensuse":     PlatformLinux,
	"flatcar":      PlatformLinux,
	"bottlerocket": PlatformLinux,
}

// LinuxPlatform returns the platform name of a Linux distribution from its
// os-release ID and ID_LIKE values: the ID decides when it is known, else
// the first known ID_LIKE entry (so Kali, ID_LIKE=debian, is ubuntu). A
// distribution known by neither is PlatformLinux, never PlatformWindows.
func LinuxPlatform(id string, idLike []string) string {
	if name, ok := linuxIDs[strings.ToLower(id)]; ok {
		return name
	}
	for _, like := range idLike {
		if name, ok := linuxIDs[strings.ToLower(like)]; ok {
			return name
		}
	}
	return PlatformLinux
}
