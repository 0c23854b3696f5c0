package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotatingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.log")
	r := &RotatingFile{Path: path, MaxBytes: 10, Keep: 2}
	for _, s := range []string{"aaaa", "bbbb", "cccc", "dddd", "eeee", "ffffffffffffffff"} {
		if n, err := r.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	if got := read("w.log"); got != "ffffffffffffffff" {
		t.Errorf("w.log = %q", got)
	}
	if got := read("w.log.1"); got != "eeee" {
		t.Errorf("w.log.1 = %q", got)
	}
	if got := read("w.log.2"); got != "ccccdddd" {
		t.Errorf("w.log.2 = %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("%d files, want 3", len(entries))
	}
	// Reopening appends to the current file.
	r2 := &RotatingFile{Path: path, MaxBytes: 100}
	r2.Write([]byte("g"))
	r2.Close()
	if got := read("w.log"); !strings.HasSuffix(got, "fg") {
		t.Errorf("w.log after reopening = %q", got)
	}
	bad := &RotatingFile{Path: filepath.Join(dir, "missing", "x.log")}
	if _, err := bad.Write([]byte("x")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
