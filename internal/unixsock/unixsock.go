// Package unixsock listens on a Unix socket path the way a process running
// as root must: the directory private whatever the umask, the socket file's
// mode set explicitly, a socket left by a process that is gone replaced, and
// anything else at the path refused. The workerproto core, the SSM v3
// surveyor and the reference agent's control socket all listen through it:
//
//	l, err := unixsock.Listen("/run/myagent/ipc/core.sock", unixsock.Config{})
//	if err != nil {
//		return fmt.Errorf("myagent: %w", err)
//	}
//	defer l.Close()
//
// Errors name the path and the rule, unprefixed: the caller adds its own
// prefix when it wraps them.
package unixsock

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Defaults of Config's zero fields.
const (
	// DefaultMode is the socket file's mode: its owner only.
	DefaultMode fs.FileMode = 0o600
	// DefaultProbeTimeout bounds the dial that tells a stale socket file
	// from a live one.
	DefaultProbeTimeout = 100 * time.Millisecond
)

// MaxPath is the longest socket path every platform accepts: sun_path less
// its terminating zero is 103 bytes on macOS and 107 on Linux and Windows.
const MaxPath = 103

// Errors Listen returns, wrapped with the path; check with errors.Is.
var (
	// ErrInUse: a process listens on the socket already.
	ErrInUse = errors.New("another process listens")
	// ErrNotSocket: something other than a socket is at the path; it is
	// left as it is.
	ErrNotSocket = errors.New("exists and is not a socket")
	// ErrOpenDir: the socket's directory is open to other users and
	// Config.NarrowDir is not set.
	ErrOpenDir = errors.New("the socket's directory must be closed to other users (0700)")
)

// Config says how Listen treats the socket and its directory. The zero
// Config is valid: mode 0600, a 100 ms probe, an open directory refused.
type Config struct {
	// Mode is the socket file's permission bits, set explicitly after
	// the bind whatever the umask; zero means DefaultMode. Bits outside
	// 0777 are an error.
	Mode fs.FileMode
	// ProbeTimeout bounds the dial to an existing socket file; zero means
	// DefaultProbeTimeout, negative is an error.
	ProbeTimeout time.Duration
	// NarrowDir, when set, narrows an existing directory that is open to
	// other users to 0700 instead of refusing it (ErrOpenDir).
	NarrowDir bool
}

// Listen makes the directory of path if it is missing (mode 0700, set
// explicitly) or checks an existing one (a real directory, not a symlink,
// owned by this process's user or root, closed to other users), replaces a
// socket file nobody answers on, and listens on path with the socket file's
// mode set to cfg.Mode. On Windows the ownership and mode checks are
// skipped: the file system has no Unix permissions.
func Listen(path string, cfg Config) (*net.UnixListener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	if err := privateDir(filepath.Dir(path), cfg.NarrowDir); err != nil {
		return nil, err
	}
	if err := removeStale(path, cfg.ProbeTimeout); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		// The directory is private, so nobody else can reach the socket
		// before its mode is set.
		if err := os.Chmod(path, cfg.Mode); err != nil {
			l.Close()
			return nil, fmt.Errorf("socket %s: set mode %#o: %w", path, cfg.Mode, err)
		}
	}
	return l, nil
}

func (cfg *Config) check() error {
	switch {
	case cfg.Mode&^fs.ModePerm != 0:
		return fmt.Errorf("socket mode %v: only permission bits (0777) are allowed", cfg.Mode)
	case cfg.ProbeTimeout < 0:
		return fmt.Errorf("socket probe timeout %v is negative", cfg.ProbeTimeout)
	}
	if cfg.Mode == 0 {
		cfg.Mode = DefaultMode
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	return nil
}

// CheckPath reports whether path can name a Unix socket on every platform.
func CheckPath(path string) error {
	if path == "" {
		return errors.New("empty socket path")
	}
	if len(path) > MaxPath {
		return fmt.Errorf("socket path %s is %d bytes long; Unix sockets allow at most %d", path, len(path), MaxPath)
	}
	return nil
}

// Answers reports whether a process accepts connections on the socket at
// path within timeout.
func Answers(path string, timeout time.Duration) bool {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// removeStale removes a socket file at path that nobody answers on.
func removeStale(path string, timeout time.Duration) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket && runtime.GOOS != "windows" {
		return fmt.Errorf("%s %w (%v)", path, ErrNotSocket, fi.Mode().Type())
	}
	if Answers(path, timeout) {
		return fmt.Errorf("%w on %s", ErrInUse, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// privateDir makes dir with mode 0700 if it is missing, or checks an
// existing one and, if narrow, narrows it to 0700.
func privateDir(dir string, narrow bool) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("socket directory: %w", err)
		}
		if runtime.GOOS == "windows" {
			return nil
		}
		if err := os.Chmod(dir, 0o700); err != nil { // whatever the umask made of it
			return fmt.Errorf("socket directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket directory %s is not a directory (%v)", dir, fi.Mode().Type())
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if err := checkOwner(dir, fi); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if !narrow {
			return fmt.Errorf("socket directory %s has mode %#o: %w", dir, perm, ErrOpenDir)
		}
		if err := os.Chmod(dir, perm&0o700); err != nil {
			return fmt.Errorf("socket directory %s has mode %#o and cannot be made private: %w", dir, perm, err)
		}
	}
	return nil
}
