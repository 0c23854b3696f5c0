//go:build unix

package filelock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// TryLock opens the lock file name in dir — created 0600 if missing, else
// the regular file of one link there, its mode narrowed to 0600 (a link
// planted at its name is refused, not followed) — and takes an exclusive
// flock on it without waiting: ErrBusy when another open file holds it.
// Closing the file lets the lock go.
func TryLock(dir *atomicfile.Dir, name string) (*os.File, error) {
	f, err := dir.Root().OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	switch {
	case err == nil:
		err = f.Chmod(0o600) // the mode is set, not left to the umask
	case errors.Is(err, fs.ErrExist):
		if f, err = dir.Plain(name, os.O_RDWR); err != nil {
			return nil, err
		}
		err = narrow(f)
	default:
		return nil, err
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("flock: %w", err)
	}
	return f, nil
}

// narrow takes the group's and others' permissions off an existing lock
// file, and widens nothing.
func narrow(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return err
	}
	return f.Chmod(fi.Mode().Perm() &^ 0o077)
}
