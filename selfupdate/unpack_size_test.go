package selfupdate

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeclaredSize(t *testing.T) {
	tgz := rawTar(t, reg("a", strings.Repeat("a", 1000)), reg("b", strings.Repeat("b", 5000)))
	zr, _ := gzip.NewReader(bytes.NewReader(tgz))
	stream, _ := io.ReadAll(zr)
	if n, ok, err := declaredSize(writeArchive(t, "p.tar.gz", tgz)); err != nil || !ok || n != int64(len(stream)) {
		t.Errorf("declaredSize(.tar.gz) = %d, %v, %v; want the tar stream's %d", n, ok, err, len(stream))
	}
	z := rawZip(t, zipEntry{"a", strings.Repeat("a", 1000), 0o644}, zipEntry{"d/", "", fs.ModeDir | 0o755}, zipEntry{"b", strings.Repeat("b", 5000), 0o755})
	if n, ok, err := declaredSize(writeArchive(t, "p.zip", z)); err != nil || !ok || n != 6000 {
		t.Errorf("declaredSize(.zip) = %d, %v, %v; want 6000", n, ok, err)
	}
	if n, ok, err := declaredSize(writeArchive(t, "p.zip", zipDeclaringBytes(t, 1<<40))); err != nil || !ok || n != 1<<40+1 {
		t.Errorf("declaredSize(zip bomb) = %d, %v, %v", n, ok, err)
	}
	for name, b := range map[string][]byte{"p.tar.gz": []byte("not gzip at all"), "q.tar.gz": tgz[:10], "p.zip": []byte("PK junk"), "p.rar": tgz} {
		if _, ok, err := declaredSize(writeArchive(t, name, b)); err == nil || ok {
			t.Errorf("declaredSize(%s) = %v, %v; want an error", name, ok, err)
		}
	}
	if _, _, err := declaredSize(filepath.Join(t.TempDir(), "missing.zip")); err == nil {
		t.Error("declaredSize of a missing file")
	}
}

// zipDeclaringBytes is a zip with a 1-byte file and one declaring size
// bytes that holds none.
func zipDeclaringBytes(t testing.TB, size uint64) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("small")
	w.Write([]byte("x"))
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "bomb", Method: zip.Deflate, UncompressedSize64: size, CompressedSize64: 2})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{3, 0}) // an empty deflate stream
	zw.Close()
	return buf.Bytes()
}

// A zip entry that holds more than it declares is refused, having
// written no more than declared.
func TestUnpackZipHoldsMoreThanDeclared(t *testing.T) {
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	fw.Write(make([]byte, 1<<20))
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "liar", Method: zip.Deflate, UncompressedSize64: 10, CompressedSize64: uint64(deflated.Len())})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(deflated.Bytes())
	zw.Close()
	dest := filepath.Join(t.TempDir(), "out")
	x, err := newExtractor(dest, limits)
	if err != nil {
		t.Fatal(err)
	}
	err = x.unpackArchive(writeArchive(t, "p.zip", buf.Bytes()))
	x.root.Close()
	if err == nil || x.written > 10 {
		t.Errorf("unpack = %v, having written %d bytes; want an error after at most 10", err, x.written)
	}
	if !errors.Is(err, ErrUnsafeArchive) && !errors.Is(err, zip.ErrFormat) && !errors.Is(err, zip.ErrChecksum) {
		t.Errorf("unpack = %v, want an unsafe or malformed archive", err)
	}
}
