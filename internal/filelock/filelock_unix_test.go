//go:build unix

package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

func openDir(t *testing.T) (*atomicfile.Dir, string) {
	t.Helper()
	path := t.TempDir()
	d, err := atomicfile.OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

func TestTryLock(t *testing.T) {
	d, path := openDir(t)
	f, err := TryLock(d, "x.lock")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(path, "x.lock")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := TryLock(d, "x.lock"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second TryLock = %v, want ErrBusy", err)
	}
	f.Close()
	g, err := TryLock(d, "x.lock")
	if err != nil {
		t.Fatalf("TryLock after the holder closed: %v", err)
	}
	g.Close()
}

func TestTryLockRefusesLinksAndNarrows(t *testing.T) {
	d, path := openDir(t)
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, nil, 0o644)
	os.Symlink(target, filepath.Join(path, "link.lock"))
	if f, err := TryLock(d, "link.lock"); err == nil {
		f.Close()
		t.Fatal("a symbolic link at the lock's name was followed")
	}
	os.WriteFile(filepath.Join(path, "wide.lock"), nil, 0o666)
	os.Chmod(filepath.Join(path, "wide.lock"), 0o646)
	f, err := TryLock(d, "wide.lock")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(filepath.Join(path, "wide.lock")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (narrowed)", fi.Mode().Perm())
	}
	os.WriteFile(filepath.Join(path, "ro.lock"), nil, 0o400)
	if f, err := TryLock(d, "ro.lock"); err == nil {
		f.Close()
		if fi, _ := os.Stat(filepath.Join(path, "ro.lock")); fi.Mode().Perm() != 0o400 {
			t.Errorf("mode %v: a mode was widened", fi.Mode().Perm())
		}
	}
}
