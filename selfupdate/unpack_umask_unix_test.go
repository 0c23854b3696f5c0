//go:build unix

package selfupdate

import (
	"archive/tar"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// umaskEnv makes TestUnpackUmaskChild, run in a child process, set its
// umask to each of a list (octal, comma-separated) in turn and unpack into
// a directory of that name below the one named by umaskDirEnv.
const (
	umaskEnv    = "SELFUPDATE_TEST_UMASK"
	umaskDirEnv = "SELFUPDATE_TEST_UMASK_DIR"
)

// TestUnpackUmask unpacks, and installs, under umasks 000 and 077 in a
// child process (the umask is the process's), and checks the modes are the
// agent's.
func TestUnpackUmask(t *testing.T) {
	top := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnpackUmaskChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), umaskEnv+"=000,077", umaskDirEnv+"="+top)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, umask := range []string{"000", "077"} {
		t.Run(umask, func(t *testing.T) {
			dir := filepath.Join(top, umask)
			want := map[string]fs.FileMode{
				".": fs.ModeDir | 0o755, "bin": fs.ModeDir | 0o755, "bin/ssm-agent": 0o755,
				"etc": fs.ModeDir | 0o755, "etc/conf": 0o644, "deep/er/file": 0o644, "deep/er": fs.ModeDir | 0o755,
			}
			checkModes(t, filepath.Join(dir, "tar"), want)
			checkModes(t, filepath.Join(dir, "zip"), want)
			checkModes(t, filepath.Join(dir, "install"), map[string]fs.FileMode{
				"versions": fs.ModeDir | 0o755, "versions/1.0.0": fs.ModeDir | 0o755,
				"versions/1.0.0/ssm-agent": 0o755, "versions/1.0.0/etc": fs.ModeDir | 0o755,
				"versions/1.0.0/etc/conf": 0o644, "versions/1.0.0/" + completeMarker: 0o644,
			})
		})
	}
}

func TestUnpackUmaskChild(t *testing.T) {
	umasks, top := os.Getenv(umaskEnv), os.Getenv(umaskDirEnv)
	if umasks == "" {
		t.Skip("run by TestUnpackUmask")
	}
	for _, umask := range strings.Split(umasks, ",") {
		m, err := strconv.ParseUint(umask, 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Umask(int(m))
		unpackAndInstall(t, filepath.Join(top, umask))
	}
}

func unpackAndInstall(t *testing.T, dir string) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tgz := writeArchive(t, "p.tar.gz", rawTar(t,
		tarEntry{tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o777}, ""},
		tarEntry{tar.Header{Name: "bin/ssm-agent", Typeflag: tar.TypeReg, Mode: 0o777}, "binary"},
		tarEntry{tar.Header{Name: "etc/conf", Typeflag: tar.TypeReg, Mode: 0o666}, "conf"},
		tarEntry{tar.Header{Name: "deep/er/file", Typeflag: tar.TypeReg, Mode: 0o600}, "file"},
	))
	zip := writeArchive(t, "p.zip", rawZip(t,
		zipEntry{"bin/", "", fs.ModeDir | 0o777},
		zipEntry{"bin/ssm-agent", "binary", 0o777},
		zipEntry{"etc/conf", "conf", 0o666},
		zipEntry{"deep/er/file", "file", 0o600},
	))
	for name, archive := range map[string]string{"tar": tgz, "zip": zip} {
		if err := unpack(archive, filepath.Join(dir, name), limits); err != nil {
			t.Fatal(err)
		}
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "agent"), []byte("binary"), 0o777)
	os.WriteFile(filepath.Join(src, "conf"), []byte("conf"), 0o666)
	l := Layout{Dir: filepath.Join(dir, "install")}
	if err := l.Install("1.0.0", map[string]string{"ssm-agent": filepath.Join(src, "agent"), "etc/conf": filepath.Join(src, "conf")}); err != nil {
		t.Fatal(err)
	}
}
