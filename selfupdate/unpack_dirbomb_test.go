//go:build unix

package selfupdate

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
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

// TestHeadersReadWhileDownloading: the headers a download reads as it
// streams are the file's, and a package declaring more than the byte
// limit is left to unpacking's own reading (over).
func TestHeadersReadWhileDownloading(t *testing.T) {
	s := newSetup(t)
	pkg := rawTar(t, reg("ssm-agent", "binary"), tarEntry{tar.Header{Name: "etc/", Typeflag: tar.TypeDir}, ""}, reg("etc/seelog.xml", "<seelog/>"))
	s.repo.put("/p.tar.gz", pkg)
	for _, tt := range []struct {
		maxBytes int64
		over     bool
	}{{1 << 20, false}, {8, true}} {
		var th *tarHeaders
		path := filepath.Join(t.TempDir(), "p.tar.gz")
		err := fetch(context.Background(), s.cfg.Source, fetchSpec{url: s.repo.url("/p.tar.gz"), path: path, sum: sum(pkg),
			maxBytes: 1 << 20, headers: &th, maxHeaders: 100, maxHeaderBytes: tt.maxBytes})
		if err != nil || th == nil {
			t.Fatalf("fetch = %v, headers %v", err, th)
		}
		if th.over != tt.over || th.err != nil {
			t.Errorf("max %d: over %v, err %v", tt.maxBytes, th.over, th.err)
		}
		f, _ := os.Open(path)
		fromFile := scanTar(f, 100, nil)
		f.Close()
		if !tt.over && fmt.Sprint(th.hdrs) != fmt.Sprint(fromFile.hdrs) {
			t.Errorf("headers while downloading %v, from the file %v", th.hdrs, fromFile.hdrs)
		}
	}
}
