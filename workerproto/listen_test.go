package workerproto

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestListenCreatesPrivateDirectoryAndSocket(t *testing.T) {
	base := filepath.Dir(socketPath(t))
	path := filepath.Join(base, "ipc", "core.sock")
	l, err := Listen(path, ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if runtime.GOOS == "windows" {
		return
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket file: %v, mode %v; want a socket with 0600", err, fi.Mode())
	}
}

func TestListenRefusesOpenDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := filepath.Dir(socketPath(t))
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(filepath.Join(dir, "core.sock"), ListenConfig{})
	if err == nil || !strings.Contains(err.Error(), "mode 0755") {
		t.Fatalf("Listen in a 0755 directory: %v", err)
	}
}

func TestListenStaleAndLiveSockets(t *testing.T) {
	path := socketPath(t)
	// A socket file nobody listens on, as a crashed core leaves it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left in place: %v", err)
	}
	l, err := Listen(path, ListenConfig{})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l.Close()
	// A second core on the same path finds the first one listening.
	if _, err := Listen(path, ListenConfig{}); err == nil || !strings.Contains(err.Error(), "another process listens on "+path) {
		t.Fatalf("second Listen: %v", err)
	}
}

func TestListenRefusesBadPaths(t *testing.T) {
	dir := filepath.Dir(socketPath(t))
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		regular:                             "exists and is not a socket",
		filepath.Join(regular, "core.sock"): "is not a directory",
		"":                                  "empty socket path",
		"/tmp/" + strings.Repeat("x", 120):  "Unix sockets allow at most",
	}
	for path, want := range tests {
		if _, err := Listen(path, ListenConfig{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Listen(%.40q) = %v, want %q", path, err, want)
		}
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Error("Listen removed a regular file")
	}
	for _, cfg := range []ListenConfig{{HandshakeTimeout: -1}, {MaxFrameSize: -1}, {HealthInterval: -1}} {
		if _, err := Listen(filepath.Join(dir, "x.sock"), cfg); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("Listen with %+v = %v", cfg, err)
		}
	}
}
