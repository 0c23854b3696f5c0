package selfupdate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// snapshot records every path under top but skip: its type, mode, link
// target and the SHA-256 of its content.
func snapshot(t testing.TB, top, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(h[:])
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t testing.TB, before, after map[string]string) {
	t.Helper()
	for p, d := range after {
		if before[p] != d {
			t.Errorf("outside the package: %s is %q, was %q", p, d, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("outside the package: %s is gone", p)
		}
	}
}

// canaryTree makes top/1/2 with files, directories and a 0600 secret at
// every level, and returns where the package goes: top/1/2/out.
func canaryTree(t testing.TB, top string) string {
	t.Helper()
	dir := top
	for _, level := range []string{"", "1", "2"} {
		dir = filepath.Join(dir, level)
		os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
		os.Chmod(dir, 0o755)
		for name, mode := range map[string]fs.FileMode{"secret": 0o600, "sub/file": 0o644} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("canary "+p), mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, mode)
		}
	}
	return filepath.Join(dir, "out")
}

func symlinkEntry(name, target string) tarEntry {
	return tarEntry{tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}, ""}
}

func hardlinkEntry(name, target string) tarEntry {
	return tarEntry{tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}, ""}
}

func dirEntry(name string) tarEntry {
	return tarEntry{tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}, ""}
}

// chain is the attack of the issue: each link looks inside when cleaned as
// text, but the kernel resolves a first, so d is three levels up.
var chain = []tarEntry{
	reg("ssm-agent", "binary"),
	symlinkEntry("a", "."),
	symlinkEntry("b", "a/.."),
	symlinkEntry("c", "b/.."),
	symlinkEntry("d", "c/.."),
}

type zipEntry struct {
	name, body string
	mode       fs.FileMode
}

func rawZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// attack unpacks an archive into top/1/2/out beside a canary tree and
// checks that it is refused saying want, with nothing changed outside.
func attack(t *testing.T, name string, b []byte, want string) {
	t.Helper()
	top := t.TempDir()
	dest := canaryTree(t, top)
	before := snapshot(t, top, dest)
	err := unpack(writeArchive(t, name, b), dest, limits)
	if !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), want) {
		t.Errorf("unpack = %v, want ErrUnsafeArchive saying %q", err, want)
	}
	sameTree(t, before, snapshot(t, top, dest))
	if _, err := os.Lstat(dest); err == nil {
		t.Errorf("%s is left behind after a refused archive", dest)
	}
}

func TestUnpackRefusesSymlinkChain(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links are refused on Windows")
	}
	t.Run("tar file through chain", func(t *testing.T) {
		attack(t, "p.tar.gz", rawTar(t, append(chain, reg("d/X", "evil"))...), `entry "d/X" passes through symbolic link "d"`)
	})
	t.Run("tar chain after the file", func(t *testing.T) {
		attack(t, "p.tar.gz", rawTar(t, append([]tarEntry{reg("d/X", "evil")}, chain...)...), `entry "d"`)
	})
	t.Run("tar hard link through chain", func(t *testing.T) {
		attack(t, "p.tar.gz", rawTar(t, append(chain, hardlinkEntry("h", "d/secret"))...), `entry "h"`)
	})
	t.Run("tar hard link to a symlink", func(t *testing.T) {
		attack(t, "p.tar.gz", rawTar(t, symlinkEntry("s", "../secret"), hardlinkEntry("h", "s")), `entry "h" hard-links to "s"`)
	})
	t.Run("tar hard link to a link to the outside", func(t *testing.T) {
		attack(t, "p.tar.gz", rawTar(t, symlinkEntry("s", "a"), hardlinkEntry("h", "s")), `entry "h" hard-links to "s"`)
	})
	t.Run("tar link to link", func(t *testing.T) {
		attack(t, "p.tar.gz", rawTar(t, symlinkEntry("a", "."), symlinkEntry("b", "a")), `entry "b" links through symbolic link "a"`)
	})
	t.Run("tar link climbing", func(t *testing.T) {
		attack(t, "p.tar.gz", rawTar(t, dirEntry("x/"), symlinkEntry("x/l", "../../secret")), `entry "x/l" links outside the package, above its root`)
	})
	zipChain := []zipEntry{
		{"ssm-agent", "binary", 0o755},
		{"a", ".", fs.ModeSymlink | 0o777},
		{"b", "a/..", fs.ModeSymlink | 0o777},
		{"c", "b/..", fs.ModeSymlink | 0o777},
		{"d", "c/..", fs.ModeSymlink | 0o777},
	}
	t.Run("zip file through chain", func(t *testing.T) {
		attack(t, "p.zip", rawZip(t, append(zipChain, zipEntry{"d/X", "evil", 0o644})...), `entry "d/X" passes through symbolic link "d"`)
	})
	t.Run("zip chain after the file", func(t *testing.T) {
		attack(t, "p.zip", rawZip(t, append([]zipEntry{{"d/X", "evil", 0o644}}, zipChain...)...), `entry "d"`)
	})
}

func TestUnpackRefusesDuplicates(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"file twice", []tarEntry{reg("f", "1"), reg("./f", "2")}, `entry "./f" duplicates`},
		{"dir then file", []tarEntry{dirEntry("f/"), reg("f", "2")}, `entry "f" duplicates`},
		{"file then dir", []tarEntry{reg("f", "1"), dirEntry("f/")}, `entry "f/" duplicates`},
		{"file then file below", []tarEntry{reg("f", "1"), reg("f/g", "2")}, `entry "f/g" is below regular file "f"`},
		{"implicit dir then file", []tarEntry{reg("f/g", "1"), reg("f", "2")}, `entry "f" duplicates`},
		{"hard link over file", []tarEntry{reg("f", "1"), reg("g", "2"), hardlinkEntry("g", "f")}, `entry "g" duplicates`},
		{"symlink over file", []tarEntry{reg("f", "1"), symlinkEntry("f", "g")}, `entry "f" duplicates`},
		{"file over symlink", []tarEntry{symlinkEntry("f", "g"), reg("f", "1")}, `entry "f" duplicates`},
		{"hard link to missing", []tarEntry{hardlinkEntry("g", "f")}, `entry "g" hard-links to "f"`},
		{"hard link to dir", []tarEntry{dirEntry("f/"), hardlinkEntry("g", "f")}, `entry "g" hard-links to "f"`},
		{"file at root", []tarEntry{reg(".", "1")}, `entry "."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tt.name, "symlink") {
				t.Skip("symbolic links are refused on Windows")
			}
			attack(t, "p.tar.gz", rawTar(t, tt.entries...), tt.want)
		})
	}
	t.Run("zip file twice", func(t *testing.T) {
		attack(t, "p.zip", rawZip(t, zipEntry{"f", "1", 0o644}, zipEntry{"f", "2", 0o644}), `entry "f" duplicates`)
	})
	t.Run("zip dir then file", func(t *testing.T) {
		attack(t, "p.zip", rawZip(t, zipEntry{"f/", "", fs.ModeDir | 0o755}, zipEntry{"f", "2", 0o644}), `entry "f" duplicates`)
	})
}

func TestUnpackModes(t *testing.T) {
	archive := writeArchive(t, "p.tar.gz", rawTar(t,
		tarEntry{tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o777}, ""},
		tarEntry{tar.Header{Name: "bin/ssm-agent", Typeflag: tar.TypeReg, Mode: 0o6777}, "binary"},
		tarEntry{tar.Header{Name: "bin/x", Typeflag: tar.TypeReg, Mode: 0o010}, "group-x"},
		tarEntry{tar.Header{Name: "etc/conf", Typeflag: tar.TypeReg, Mode: 0o666}, "conf"},
		tarEntry{tar.Header{Name: "etc/ro", Typeflag: tar.TypeReg, Mode: 0o400}, "ro"},
		tarEntry{tar.Header{Name: "sticky/", Typeflag: tar.TypeDir, Mode: 0o1777}, ""},
	))
	dest := filepath.Join(t.TempDir(), "out")
	if err := unpack(archive, dest, limits); err != nil {
		t.Fatal(err)
	}
	checkModes(t, dest, map[string]fs.FileMode{
		".": fs.ModeDir | 0o755, "bin": fs.ModeDir | 0o755, "bin/ssm-agent": 0o755, "bin/x": 0o755,
		"etc": fs.ModeDir | 0o755, "etc/conf": 0o644, "etc/ro": 0o644, "sticky": fs.ModeDir | 0o755,
	})
}

func checkModes(t testing.TB, dest string, want map[string]fs.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	for name, mode := range want {
		fi, err := os.Lstat(filepath.Join(dest, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), mode)
		}
	}
}

// withGlobalHeaders is a .tar.gz of n global headers (git archive writes
// one) and a file.
func withGlobalHeaders(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for range n {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "abc"}}); err != nil {
			t.Fatal(err)
		}
	}
	tw.WriteHeader(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("a"))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestUnpackTarGlobalHeaders(t *testing.T) {
	if err := unpack(writeArchive(t, "p.tar.gz", withGlobalHeaders(t, 1)), filepath.Join(t.TempDir(), "out"), limits); err != nil {
		t.Fatalf("unpack with a global header: %v", err)
	}
	err := unpack(writeArchive(t, "p.tar.gz", withGlobalHeaders(t, limits.maxEntries+1)), filepath.Join(t.TempDir(), "out"), limits)
	if !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), "more than 100 entries") {
		t.Errorf("unpack of %d global headers = %v", limits.maxEntries+1, err)
	}
}

// The room on disk is checked before a file is written; lim.room plays a
// small disk here, the bomb tests use a real one.
func TestUnpackRoom(t *testing.T) {
	lim := limits
	lim.room = 64 << 10
	for name, b := range map[string][]byte{
		"p.tar.gz": rawTar(t, reg("small", "x"), reg("big", strings.Repeat("x", 100<<10))),
		"p.zip":    rawZip(t, zipEntry{"small", "x", 0o644}, zipEntry{"big", strings.Repeat("x", 100<<10), 0o644}),
	} {
		dest := filepath.Join(t.TempDir(), "out")
		x, err := newExtractor(dest, lim)
		if err != nil {
			t.Fatal(err)
		}
		err = x.unpackArchive(writeArchive(t, name, b))
		x.root.Close()
		if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), `entry "big"`) || x.written > 1 {
			t.Errorf("%s: unpack = %v, having written %d bytes; want ErrNoSpace naming \"big\", before writing it", name, err, x.written)
		}
	}
}
