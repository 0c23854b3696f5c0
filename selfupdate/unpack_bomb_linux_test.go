package selfupdate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of 64 MiB, or skips the test where it cannot.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

// declaringTar is a .tar.gz whose one file declares size bytes, with 1 MiB
// of them and then nothing: what a gzip bomb looks like to the unpacker up
// to the point where it must decide.
func declaringTar(t *testing.T, size int64) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	tw.Write(make([]byte, 1<<20))
	tw.Flush()
	zw.Close()
	return buf.Bytes()
}

// manyFiles is an archive of n files of 1 MiB of zeros each.
func manyFiles(t *testing.T, format string, n int) []byte {
	var es []specEntry
	for i := range n {
		es = append(es, specEntry{kind: "f", name: fmt.Sprintf("f%03d", i)})
	}
	body := make([]byte, 1<<20)
	var buf bytes.Buffer
	if format == "zip" {
		zw := zip.NewWriter(&buf)
		for _, e := range es {
			w, _ := zw.Create(e.name)
			w.Write(body)
		}
		zw.Close()
		return buf.Bytes()
	}
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// wrapTrailer makes the gzip trailer say 1 byte: what a stream of 4 GiB
// and 1 byte says, modulo 2^32. Gzip refuses the archive at its end, but
// unpacking must not count on the trailer.
func wrapTrailer(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[len(b)-4:], 1)
	return b
}

// diskUse is the bytes of the regular files below dir.
func diskUse(dir string) (n int64) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func TestUnpackBombOnSmallDisk(t *testing.T) {
	disk := smallDisk(t)
	tests := []struct {
		name, file string
		b          []byte
		maxBytes   int64
		want       error
		entry      string
	}{
		{"tar declares 8 GiB, over the free space", "p.tar.gz", declaringTar(t, 8<<30), 1 << 40, ErrNoSpace, `entry "bomb"`},
		{"tar declares 8 GiB, over the limit", "p.tar.gz", declaringTar(t, 8<<30), 1 << 30, ErrUnsafeArchive, `entry "bomb"`},
		{"tar declares 100 MiB in 100 files", "p.tar.gz", manyFiles(t, "tar", 100), 1 << 30, ErrNoSpace, `p.tar.gz: its gzip trailer declares`},
		{"tar of 100 MiB in 100 files, trailer wrapped", "p.tar.gz", wrapTrailer(manyFiles(t, "tar", 100)), 1 << 30, ErrNoSpace, `entry "f0`},
		{"zip declares 8 GiB", "p.zip", zipDeclaringBytes(t, 8<<30), 1 << 40, ErrNoSpace, `entry "bomb"`},
		{"zip declares 100 MiB in 100 files", "p.zip", manyFiles(t, "zip", 100), 1 << 30, ErrNoSpace, `entry "f0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := writeArchive(t, tt.file, tt.b)
			dest := filepath.Join(disk, "staging")
			lim := unpackLimits{maxEntries: 1000, maxBytes: tt.maxBytes}
			x, err := newExtractor(dest, lim)
			if err != nil {
				t.Fatal(err)
			}
			err = x.unpackArchive(archive)
			x.root.Close()
			written := diskUse(dest)
			t.Logf("refused after writing %d bytes (%d counted): %v", written, x.written, err)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.entry) {
				t.Errorf("unpack = %v, want %v naming %s", err, tt.want, tt.entry)
			}
			if max := int64(64 << 20); written > max || x.written != written {
				t.Errorf("wrote %d bytes (counted %d) before refusing, more than %d", written, x.written, max)
			}
			if strings.Contains(tt.name, "declare") && written != 0 {
				t.Errorf("wrote %d bytes of an archive that declares more than the room", written)
			}
			os.RemoveAll(dest)
			// And through extract, which leaves nothing behind.
			if _, err := extract(archive, dest, lim); !errors.Is(err, tt.want) {
				t.Errorf("extract = %v", err)
			}
			if _, err := os.Lstat(dest); err == nil {
				t.Errorf("extract left %s behind", dest)
			}
		})
	}
	// What fits is unpacked.
	if err := unpack(writeArchive(t, "p.tar.gz", manyFiles(t, "tar", 40)), filepath.Join(disk, "ok"), unpackLimits{maxEntries: 1000, maxBytes: 1 << 30}); err != nil {
		t.Errorf("unpack of 40 MiB onto 64 MiB: %v", err)
	}
}
