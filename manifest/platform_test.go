package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	tests := []struct {
		p    Platform
		pkg  string
		want string
	}{
		{Platform{PlatformLinux, "amd64"}, "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz"},
		{Platform{PlatformUbuntu, "386"}, "amazon-ssm-agent", "amazon-ssm-agent-ubuntu-386.tar.gz"},
		{Platform{PlatformLinux, "arm64"}, "amazon-ssm-agent-updater", "amazon-ssm-agent-updater-linux-arm64.tar.gz"},
		{Platform{PlatformDarwin, "arm64"}, "amazon-ssm-agent", "amazon-ssm-agent-darwin-arm64.tar.gz"},
		{Platform{PlatformWindows, "amd64"}, "amazon-ssm-agent", "amazon-ssm-agent-windows-amd64.zip"},
		{Platform{PlatformWindows, "386"}, "amazon-ssm-agent-updater", "amazon-ssm-agent-updater-windows-386.zip"},
	}
	for _, tt := range tests {
		if got := tt.p.FileName(tt.pkg); got != tt.want {
			t.Errorf("%v.FileName(%q) = %q, want %q", tt.p, tt.pkg, got, tt.want)
		}
	}
}

func TestLinuxPlatform(t *testing.T) {
	tests := []struct {
		id, idLike, want string
	}{
		{"amzn", "centos rhel fedora", PlatformLinux},
		{"rhel", "fedora", PlatformLinux},
		{"centos", "rhel fedora", PlatformLinux},
		{"rocky", "rhel centos fedora", PlatformLinux},
		{"almalinux", "rhel centos fedora", PlatformLinux},
		{"ol", "", PlatformLinux},
		{"sles", "suse", PlatformLinux},
		{"flatcar", "coreos", PlatformLinux},
		{"bottlerocket", "", PlatformLinux},
		{"ubuntu", "debian", PlatformUbuntu},
		{"debian", "", PlatformUbuntu},
		{"raspbian", "debian", PlatformUbuntu},
		{"Ubuntu", "", PlatformUbuntu},
		// Unknown IDs: ID_LIKE decides, the first known entry first.
		{"kali", "debian", PlatformUbuntu},
		{"linuxmint", "ubuntu debian", PlatformUbuntu},
		{"pop", "ubuntu debian", PlatformUbuntu},
		{"opensuse-leap", "suse opensuse", PlatformLinux},
		{"mystery", "somethingelse debian", PlatformUbuntu},
		// Unknown by both: linux, never windows (the SSM Agent's bug).
		{"arch", "", PlatformLinux},
		{"gentoo", "", PlatformLinux},
		{"", "", PlatformLinux},
		{"alpine", "", PlatformLinux},
	}
	for _, tt := range tests {
		if got := LinuxPlatform(tt.id, strings.Fields(tt.idLike)); got != tt.want {
			t.Errorf("LinuxPlatform(%q, %q) = %q, want %q", tt.id, tt.idLike, got, tt.want)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDetectPlatform(t *testing.T) {
	debian := writeFile(t, "os-release", `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
HOME_URL="https://www.debian.org/"
`)
	kali := writeFile(t, "os-release", "ID=kali\nID_LIKE=debian\n")
	arch := writeFile(t, "os-release", "NAME=\"Arch Linux\"\nID=arch\n")
	amzn := writeFile(t, "os-release", "NAME=\"Amazon Linux\"\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\n")
	broken := writeFile(t, "os-release", "ID=\"debian\n")
	missing := filepath.Join(t.TempDir(), "absent")

	tests := []struct {
		goos, goarch, osRelease string
		want                    Platform
	}{
		{"linux", "amd64", debian, Platform{PlatformUbuntu, "amd64"}},
		{"linux", "arm64", kali, Platform{PlatformUbuntu, "arm64"}},
		{"linux", "amd64", arch, Platform{PlatformLinux, "amd64"}},
		{"linux", "386", amzn, Platform{PlatformLinux, "386"}},
		{"darwin", "arm64", debian, Platform{PlatformDarwin, "arm64"}}, // os-release is not read
		{"windows", "amd64", "", Platform{PlatformWindows, "amd64"}},
	}
	for _, tt := range tests {
		got, err := detectPlatform(tt.goos, tt.goarch, tt.osRelease)
		if err != nil || got != tt.want {
			t.Errorf("detectPlatform(%s, %s, %s) = %v, %v; want %v", tt.goos, tt.goarch, tt.osRelease, got, err, tt.want)
		}
	}

	if _, err := detectPlatform("linux", "amd64", missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a named os-release that does not exist: error %v, want ErrNotExist", err)
	}
	if _, err := detectPlatform("linux", "amd64", broken); err == nil || !strings.Contains(err.Error(), broken) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a malformed os-release: error %v, want one naming the file and line", err)
	}
	if _, err := detectPlatform("plan9", "amd64", ""); !errors.Is(err, ErrUnsupportedOS) {
		t.Errorf("plan9: error %v, want ErrUnsupportedOS", err)
	}
}

func TestDetectPlatformHost(t *testing.T) {
	p, err := DetectPlatform("")
	if err != nil {
		t.Fatal(err)
	}
	if p.Arch == "" || (p.Name != PlatformLinux && p.Name != PlatformUbuntu && p.Name != PlatformDarwin && p.Name != PlatformWindows) {
		t.Errorf("DetectPlatform() = %v", p)
	}
}

func TestParseOSRelease(t *testing.T) {
	in := `# comment
NAME="Ubuntu"
VERSION="22.04.3 LTS (Jammy Jellyfish)"

ID=ubuntu
ID_LIKE=debian
PRETTY_NAME='Ubuntu 22.04.3 LTS'
QUOTED="a \"b\" \\ \$c \` + "`" + ` \n"
EMPTY=
SPACED = x
   INDENTED=yes
ID=ubuntu2
`
	got, err := ParseOSRelease(strings.NewReader(strings.Replace(in, "SPACED = x\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"NAME":        "Ubuntu",
		"VERSION":     "22.04.3 LTS (Jammy Jellyfish)",
		"ID":          "ubuntu2",
		"ID_LIKE":     "debian",
		"PRETTY_NAME": "Ubuntu 22.04.3 LTS",
		"QUOTED":      "a \"b\" \\ $c ` \\n",
		"EMPTY":       "",
		"INDENTED":    "yes",
	}
	if len(got) != len(want) {
		t.Errorf("got %d variables, want %d: %q", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	bad := map[string]string{
		"NOEQUALS\n":               `line 1: "NOEQUALS" is not KEY=value`,
		"ID=x\nSPACED = x\n":       `line 2: invalid variable name "SPACED "`,
		"1ID=x":                    `invalid variable name "1ID"`,
		"ID=\"open":                "line 1: ID: missing closing \" quote",
		"ID='open":                 "missing closing ' quote",
		"ID=\"a\" b":               `text "b" after the closing quote`,
		strings.Repeat("#", 70000): "larger than 65536 bytes",
	}
	for in, msg := range bad {
		_, err := ParseOSRelease(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseOSRelease(%.20q) error = %v, want %q", in, err, msg)
		}
	}
}

// TestOSPlatformOnDebian: an agent of one's own on Debian, with one Linux
// package, finds it by OSPlatform, where DetectPlatform follows SSM and says
// ubuntu.
func TestOSPlatformOnDebian(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	osRelease := filepath.Join(t.TempDir(), "os-release")
	os.WriteFile(osRelease, []byte("ID=debian\nVERSION_ID=12\n"), 0o644)
	if p, err := DetectPlatform(osRelease); err != nil || p.Name != PlatformUbuntu {
		t.Errorf("DetectPlatform on Debian = %v, %v; want SSM's ubuntu", p, err)
	}
	m, err := Parse(strings.NewReader(`{"SchemaVersion":"1.0","UriFormat":"https://example.com/{FileName}","Packages":[{"Name":"myagent","Files":[
		{"Name":"myagent-linux-` + runtime.GOARCH + `.tar.gz","AvailableVersions":[{"Version":"1.0.0","CheckSum":"` + strings.Repeat("a", 64) + `","Status":"Deprecated"},{"Version":"1.1.0","CheckSum":"` + strings.Repeat("b", 64) + `","Status":"Active"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Decide(Query{Package: "myagent", Platform: OSPlatform(), Current: MustParseVersion("1.0.0")})
	if err != nil || d.Action != ActionUpdate || d.Target.Version.String() != "1.1.0" {
		t.Errorf("Decide with OSPlatform = %+v, %v", d, err)
	}
}
