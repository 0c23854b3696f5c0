package selfupdate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var limits = unpackLimits{maxEntries: 100, maxBytes: 1 << 20}

// rawTar builds a .tar.gz from headers and contents as given.
func rawTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		e.h.Size = int64(len(e.body))
		if e.h.Mode == 0 {
			e.h.Mode = 0o644
		}
		if err := tw.WriteHeader(&e.h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

type tarEntry struct {
	h    tar.Header
	body string
}

func reg(name, body string) tarEntry {
	return tarEntry{tar.Header{Name: name, Typeflag: tar.TypeReg}, body}
}

func writeArchive(t *testing.T, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUnpackGood(t *testing.T) {
	archive := writeArchive(t, "p.tar.gz", rawTar(t,
		tarEntry{tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		tarEntry{tar.Header{Name: "bin/ssm-agent", Typeflag: tar.TypeReg, Mode: 0o4755}, "binary"}, // setuid dropped
		tarEntry{tar.Header{Name: "bin/agent", Typeflag: tar.TypeSymlink, Linkname: "ssm-agent"}, ""},
		tarEntry{tar.Header{Name: "bin/hard", Typeflag: tar.TypeLink, Linkname: "bin/ssm-agent"}, ""},
		reg("./etc/seelog.xml", "<seelog/>"),
	))
	dest := filepath.Join(t.TempDir(), "out")
	if err := unpack(archive, dest, limits); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dest, "bin", "ssm-agent"))
	if err != nil || fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/ssm-agent: %v, mode %v", err, fi.Mode())
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "bin", "agent")); string(b) != "binary" {
		t.Errorf("symlink reads %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "bin", "hard")); string(b) != "binary" {
		t.Errorf("hard link reads %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "etc", "seelog.xml")); string(b) != "<seelog/>" {
		t.Errorf("etc/seelog.xml reads %q", b)
	}
}

func TestUnpackRefusesUnsafeTar(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"dot-dot", []tarEntry{reg("../evil", "x")}, "climbs out with .."},
		{"nested dot-dot", []tarEntry{reg("a/../../evil", "x")}, "climbs out with .."},
		{"absolute", []tarEntry{reg("/etc/evil", "x")}, "absolute path"},
		{"symlink out", []tarEntry{{tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../etc"}, ""}}, "links outside the package"},
		{"symlink absolute", []tarEntry{{tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, ""}}, "absolute path"},
		{"hardlink out", []tarEntry{{tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../etc/passwd"}, ""}}, "climbs out"},
		{"device", []tarEntry{{tar.Header{Name: "dev", Typeflag: tar.TypeChar}, ""}}, "devices, pipes"},
		{"fifo", []tarEntry{{tar.Header{Name: "pipe", Typeflag: tar.TypeFifo}, ""}}, "devices, pipes"},
		{"bytes bomb", []tarEntry{reg("big", strings.Repeat("0", int(limits.maxBytes)+1))}, "more than 1048576 bytes"},
		{"entries bomb", func() []tarEntry {
			var es []tarEntry
			for i := range limits.maxEntries + 1 {
				es = append(es, reg(fmt.Sprintf("f%d", i), ""))
			}
			return es
		}(), "more than 100 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outside := t.TempDir()
			dest := filepath.Join(outside, "pkg", "out")
			os.MkdirAll(filepath.Dir(dest), 0o755)
			err := unpack(writeArchive(t, "p.tar.gz", rawTar(t, tt.entries...)), dest, limits)
			if !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("unpack = %v, want ErrUnsafeArchive saying %q", err, tt.want)
			}
			for _, p := range []string{filepath.Join(outside, "evil"), filepath.Join(outside, "pkg", "evil")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

func TestUnpackRefusesUnsafeZip(t *testing.T) {
	zipWith := func(name, body string, mode fs.FileMode) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: name}
		h.SetMode(mode)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(body))
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"dot-dot", zipWith("../evil", "x", 0o644), "climbs out"},
		{"backslash dot-dot", zipWith(`..\evil`, "x", 0o644), "climbs out"},
		{"absolute", zipWith("/evil", "x", 0o644), "absolute path"},
		{"symlink out", zipWith("l", "../../etc", fs.ModeSymlink|0o777), "links outside"},
		{"device", zipWith("d", "", fs.ModeDevice|0o644), "devices, pipes"},
		{"bomb", zipWith("big", strings.Repeat("0", int(limits.maxBytes)+1), 0o644), "more than 1048576 bytes"},
	}
	if runtime.GOOS == "windows" {
		tests[3].want = "not unpacked on Windows"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := unpack(writeArchive(t, "p.zip", tt.b), filepath.Join(t.TempDir(), "out"), limits)
			if !errors.Is(err, ErrUnsafeArchive) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("unpack = %v, want ErrUnsafeArchive saying %q", err, tt.want)
			}
		})
	}
}

func TestUnpackZipGood(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("amazon-ssm-agent/ssm-agent.exe")
	w.Write([]byte("exe"))
	zw.Close()
	dest := filepath.Join(t.TempDir(), "out")
	if err := unpack(writeArchive(t, "p.zip", buf.Bytes()), dest, limits); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "amazon-ssm-agent", "ssm-agent.exe")); string(b) != "exe" {
		t.Errorf("read %q", b)
	}
	if err := unpack(writeArchive(t, "p.rar", nil), filepath.Join(t.TempDir(), "o"), limits); err == nil {
		t.Error("unpacked a .rar")
	}
}
