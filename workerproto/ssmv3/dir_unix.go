//go:build unix

package ssmv3

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// privateDir makes dir (and its parents) if missing, with mode 0700 set
// explicitly on what it creates, or checks and narrows an existing one.
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("ssmv3: socket directory: %w", err)
		}
		fi, err = os.Lstat(dir)
		if err == nil && fi.IsDir() {
			err = os.Chmod(dir, 0o700) // whatever the umask made of it
		}
		if err != nil {
			return fmt.Errorf("ssmv3: socket directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ssmv3: socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("ssmv3: socket directory %s is not a directory (%v)", dir, fi.Mode().Type())
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() && uid != 0 {
		return fmt.Errorf("ssmv3: socket directory %s belongs to uid %d, neither this process's (%d) nor root", dir, uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("ssmv3: socket directory %s has mode %#o and cannot be made private: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return nil
}

// chmodSocket sets the socket file's mode to 0600, whatever the umask.
func chmodSocket(path string) error { return os.Chmod(path, 0o600) }
