package selfupdate

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnpackDirectoryBombs: names thousands of levels deep, or many deep
// directories, are refused before anything is made, and errors do not
// repeat a hostile name in full.
func TestUnpackDirectoryBombs(t *testing.T) {
	deep := "i/" + strings.Repeat("a/", 100) // 202 bytes, 101 levels
	var many []tarEntry
	for i := range 40 {
		many = append(many, tarEntry{tar.Header{Name: string(rune('a'+i%26)) + "/" + strings.Repeat("d/", 60), Typeflag: tar.TypeDir}, ""})
	}
	for _, tt := range []struct {
		name    string
		entries []tarEntry
		lim     unpackLimits
		want    string
	}{
		{"deep", []tarEntry{{tar.Header{Name: deep, Typeflag: tar.TypeDir}, ""}}, limits, "levels deep, more than 64"},
		{"long-name", []tarEntry{reg(strings.Repeat("n", 300000), "x")}, limits, "more than 1024"},
		{"long-element", []tarEntry{reg("a/"+strings.Repeat("e", 300), "x")}, limits, "path element of 300 bytes"},
		{"many-directories", many, unpackLimits{maxEntries: 100, maxBytes: 1 << 30}, "more than 200 entries and directories"},
		{"directories-over-the-room", many, unpackLimits{maxEntries: 10000, maxBytes: 1 << 30, room: 100 * blockSize}, "directories add up to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			archive := writeArchive(t, "p.tar.gz", rawTar(t, tt.entries...))
			dest := filepath.Join(t.TempDir(), "out")
			err := unpack(archive, dest, tt.lim)
			if err == nil || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > 1024 {
				t.Fatalf("unpack = %.300v (%d bytes); want %q, short", err, len(fmtErr(err)), tt.want)
			}
			if !errors.Is(err, ErrUnsafeArchive) && !errors.Is(err, ErrNoSpace) {
				t.Errorf("unpack = %v, want ErrUnsafeArchive or ErrNoSpace", err)
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Errorf("staging left behind: %v", err)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
