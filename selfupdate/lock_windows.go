package selfupdate

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// On Windows the lock is a handle opened with no sharing: while it is open
// no other process can open the file, and the handle closes when its
// process ends.

var errWouldBlock = errors.New("lock busy")

const errorSharingViolation syscall.Errno = 32

func openLock(path string) (*os.File, error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil,
		syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err == errorSharingViolation {
		return nil, errWouldBlock
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), path), nil
}

// tryLock has nothing to do: the unshared handle is the lock.
func tryLock(f *os.File) error { return nil }

func readLockFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}
