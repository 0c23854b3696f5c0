//go:build unix

package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// nonblock keeps an open of a FIFO from waiting for a writer.
const nonblock = syscall.O_NONBLOCK

func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// lockFile opens the lock file name in dir — created 0600 if missing,
// else the regular file of one link there (a link planted at its name is
// refused, not followed) — and takes an exclusive flock on it without
// waiting: errLockBusy when another open file holds it. The kernel lets
// the lock go when its holder closes it or dies.
func lockFile(dir *atomicfile.Dir, name string) (*os.File, error) {
	f, err := dir.Root().OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	switch {
	case err == nil:
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, err
		}
	case errors.Is(err, fs.ErrExist):
		if f, err = dir.Plain(name, os.O_RDWR); err != nil {
			return nil, err
		}
	default:
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
			return nil, errLockBusy
		}
		return nil, fmt.Errorf("flock: %w", err)
	}
	return f, nil
}

// openInput opens a file to read: a symbolic link at path is refused, not
// followed, and so is anything but a regular file (without waiting on a
// FIFO). A file with other hard links is fine: it is only read.
func openInput(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link (not followed): %w", path, atomicfile.ErrUnsafe)
		}
		if errors.Is(err, syscall.ENXIO) {
			return nil, fmt.Errorf("%s is not a regular file: %w", path, atomicfile.ErrUnsafe)
		}
		return nil, err
	}
	return checkInput(f, path)
}
