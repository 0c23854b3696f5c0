package unixsock_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssmkit/ssmkit/internal/unixsock"
)

// shortDir returns a fresh directory short enough for socket paths.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "us")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ExampleListen() {
	dir, _ := os.MkdirTemp("", "ex")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ipc", "core.sock")
	l, err := unixsock.Listen(path, unixsock.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	_, err = unixsock.Listen(path, unixsock.Config{})
	fmt.Println(errors.Is(err, unixsock.ErrInUse))
	// Output: true
}

func TestStaleReplacedLiveRefused(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	l, err := unixsock.Listen(path, unixsock.Config{})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l.Close()
	if !unixsock.Answers(path, unixsock.DefaultProbeTimeout) {
		t.Error("the new socket does not answer")
	}
	_, err = unixsock.Listen(path, unixsock.Config{})
	if !errors.Is(err, unixsock.ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Listen on a live socket: %v", err)
	}
}
