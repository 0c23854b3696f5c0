//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOpenFileRefusesLinksAndSetsModes(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(t.TempDir(), "canary")
	os.WriteFile(canary, []byte("precious"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(canary, link)
	hard := filepath.Join(dir, "hard")
	os.Link(canary, hard)
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o600)
	for _, path := range []string{link, hard, fifo} {
		for _, flag := range []int{os.O_RDWR | os.O_CREATE | os.O_TRUNC, os.O_WRONLY | os.O_APPEND, os.O_RDONLY} {
			if f, err := OpenFile(path, flag, 0o600); !errors.Is(err, ErrUnsafe) {
				t.Errorf("OpenFile(%s, %#x): %v, want ErrUnsafe", filepath.Base(path), flag, err)
				if f != nil {
					f.Close()
				}
			}
		}
		if _, err := ReadFile(path); !errors.Is(err, ErrUnsafe) {
			t.Errorf("ReadFile(%s): %v", filepath.Base(path), err)
		}
	}
	if b, _ := os.ReadFile(canary); string(b) != "precious" {
		t.Errorf("canary: %q", b)
	}
	if fi, _ := os.Stat(canary); fi.Mode().Perm() != 0o644 {
		t.Errorf("canary mode %v", fi.Mode().Perm())
	}

	old := syscall.Umask(0o777)
	defer syscall.Umask(old)
	f, err := OpenFile(filepath.Join(dir, "new"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(filepath.Join(dir, "new")); fi.Mode().Perm() != 0o640 {
		t.Errorf("created with %v under umask 0777, want 0640", fi.Mode().Perm())
	}
}

func TestMkdir(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	os.Chmod(outside, 0o755)
	link := filepath.Join(base, "link")
	os.Symlink(outside, link)
	if err := Mkdir(link, 0o700); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Mkdir through a link: %v", err)
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o755 {
		t.Errorf("the link's target was chmodded to %v", fi.Mode().Perm())
	}
	old := syscall.Umask(0o777)
	made := filepath.Join(base, "made")
	err := Mkdir(made, 0o700)
	syscall.Umask(old)
	if fi, _ := os.Stat(made); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("Mkdir under umask 0777: %v, %v", err, fi.Mode().Perm())
	}
	wide := filepath.Join(base, "wide")
	os.Mkdir(wide, 0o755)
	os.Chmod(wide, 0o777)
	if err := Mkdir(wide, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(wide); fi.Mode().Perm() != 0o700 {
		t.Errorf("an existing 0777 directory is now %v, want 0700", fi.Mode().Perm())
	}
	narrow := filepath.Join(base, "narrow")
	os.Mkdir(narrow, 0o700)
	Mkdir(narrow, 0o755)
	if fi, _ := os.Stat(narrow); fi.Mode().Perm() != 0o700 {
		t.Errorf("an existing 0700 directory was widened to %v", fi.Mode().Perm())
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if err := Mkdir(file, 0o700); err == nil {
		t.Error("Mkdir over a file succeeded")
	}
}
