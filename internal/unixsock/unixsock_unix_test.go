//go:build unix

package unixsock_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ssmkit/ssmkit/internal/unixsock"
)

func TestModesWhateverTheUmask(t *testing.T) {
	for _, umask := range []int{0, 0o077} {
		old := syscall.Umask(umask)
		dir := shortDir(t)
		path := filepath.Join(dir, "ipc", "s.sock")
		l, err := unixsock.Listen(path, unixsock.Config{Mode: 0o660})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o660} {
			if fi, err := os.Lstat(p); err != nil || fi.Mode().Perm() != want {
				t.Errorf("umask %#o: %s: %v, mode %v, want %#o", umask, p, err, fi.Mode(), want)
			}
		}
		l.Close()
	}
}

func TestRefusals(t *testing.T) {
	dir := shortDir(t)
	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, []byte("keep me"), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(regular, link)
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o755)
	dirLink := filepath.Join(dir, "dirlink")
	os.Symlink(open, dirLink)
	for path, want := range map[string]string{
		regular:                            "exists and is not a socket",
		fifo:                               "exists and is not a socket",
		link:                               "exists and is not a socket",
		filepath.Join(regular, "s"):        "is not a directory",
		filepath.Join(open, "s"):           "has mode 0755",
		filepath.Join(dirLink, "s"):        "is not a directory",
		"":                                 "empty socket path",
		"/tmp/" + strings.Repeat("x", 120): "Unix sockets allow at most 103",
	} {
		if l, err := unixsock.Listen(path, unixsock.Config{}); err == nil || !strings.Contains(err.Error(), want) {
			if l != nil {
				l.Close()
			}
			t.Errorf("Listen(%.40q) = %v, want %q", path, err, want)
		}
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Error("Listen removed a regular file")
	}
	for _, cfg := range []unixsock.Config{{Mode: os.ModeSetuid | 0o600}, {ProbeTimeout: -1}} {
		if _, err := unixsock.Listen(filepath.Join(dir, "x.sock"), cfg); err == nil {
			t.Errorf("Listen with %+v: no error", cfg)
		}
	}
	if os.Getuid() == 0 {
		other := filepath.Join(dir, "other")
		os.Mkdir(other, 0o700)
		os.Chown(other, 65534, 65534)
		if _, err := unixsock.Listen(filepath.Join(other, "s"), unixsock.Config{}); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("Listen in another user's directory: %v", err)
		}
	}
}

func TestNarrowDir(t *testing.T) {
	open := filepath.Join(shortDir(t), "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o775)
	l, err := unixsock.Listen(filepath.Join(open, "s"), unixsock.Config{NarrowDir: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory left at %#o, want 0700", fi.Mode().Perm())
	}
}
