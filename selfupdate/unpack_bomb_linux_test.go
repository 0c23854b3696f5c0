package selfupdate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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

// gz compresses b as one gzip member.
func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func tarHeader(name string, size int64) []byte {
	var buf bytes.Buffer
	tar.NewWriter(&buf).WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	return buf.Bytes()
}

// declaringTar is a .tar.gz whose one file declares size bytes, with 64 KiB
// of them and then nothing: what a gzip bomb looks like to the unpacker up
// to the point where it must decide.
func declaringTar(size int64) []byte {
	return append(gz(tarHeader("bomb", size)), gz(make([]byte, 64<<10))...)
}

// deflatePiece compresses b on its own and ends with a sync flush, so
// that pieces made so can be put one after another, and repeated, in one
// deflate stream.
func deflatePiece(b []byte) []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	fw.Write(b)
	fw.Flush()
	return buf.Bytes()
}

// manyFiles is a .tar.gz of n files of 1 MiB of zeros each. In one gzip
// member, its trailer says how long the tar stream is; in one member per
// file (what gzip allows), the last trailer counts only the end of the
// archive. The 1 MiB of zeros is compressed once and repeated, which keeps
// the test fast.
func manyFiles(n int, oneMember bool) []byte {
	zeros := make([]byte, 1<<20)
	dzeros := deflatePiece(zeros)
	var out []byte
	var piece []byte // of the member being made
	crc, size := crc32.NewIEEE(), 0
	add := func(data, deflated []byte) {
		crc.Write(data)
		size += len(data)
		piece = append(piece, deflated...)
	}
	end := func() {
		out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)
		out = append(append(out, piece...), 0x03, 0x00) // an empty final block
		out = binary.LittleEndian.AppendUint32(out, crc.Sum32())
		out = binary.LittleEndian.AppendUint32(out, uint32(size))
		piece, size = nil, 0
		crc.Reset()
	}
	for i := range n {
		h := tarHeader(fmt.Sprintf("f%03d", i), 1<<20)
		add(h, deflatePiece(h))
		add(zeros, dzeros)
		if !oneMember {
			end()
		}
	}
	add(make([]byte, 1024), deflatePiece(make([]byte, 1024)))
	end()
	return out
}

// manyZipFiles is a .zip of n files that declare 1 MiB each and hold
// nothing: the central directory is all the unpacker may read before it
// decides.
func manyZipFiles(n int) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("f%03d", i), Method: zip.Store, UncompressedSize64: 1 << 20, CompressedSize64: 1 << 20})
	}
	zw.Close()
	return buf.Bytes()
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
		{"tar declares 8 GiB, over the free space", "p.tar.gz", declaringTar(8 << 30), 1 << 40, ErrNoSpace, `entry "bomb"`},
		{"tar declares 8 GiB, over the limit", "p.tar.gz", declaringTar(8 << 30), 1 << 30, ErrUnsafeArchive, `entry "bomb"`},
		{"tar declares 100 MiB in its gzip trailer", "p.tar.gz", manyFiles(100, true), 1 << 30, ErrNoSpace, `p.tar.gz: its gzip trailer declares`},
		{"tar of 100 MiB in 100 gzip members", "p.tar.gz", manyFiles(100, false), 1 << 30, ErrNoSpace, `entry "f0`},
		{"zip declares 8 GiB", "p.zip", zipDeclaringBytes(t, 8<<30), 1 << 40, ErrNoSpace, `entry "bomb"`},
		{"zip declares 100 MiB in 100 files", "p.zip", manyZipFiles(100), 1 << 30, ErrNoSpace, `entry "f0`},
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
			if written != 0 {
				t.Errorf("wrote %d bytes of an archive whose files add up to more than the room", written)
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
	if err := unpack(writeArchive(t, "p.tar.gz", manyFiles(20, true)), filepath.Join(disk, "ok"), unpackLimits{maxEntries: 1000, maxBytes: 1 << 30}); err != nil {
		t.Errorf("unpack of 20 MiB onto 64 MiB: %v", err)
	}
}
