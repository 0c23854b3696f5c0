package filelock

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

const (
	errorSharingViolation syscall.Errno = 32
	fileFlagOpenReparse                 = 0x00200000 // FILE_FLAG_OPEN_REPARSE_POINT
)

// TryLock opens the lock file name in dir with no sharing: while the
// handle is open no other process can open the file (ErrBusy), and the
// handle closes when its process ends. A link at its name is opened as
// itself, never followed.
func TryLock(dir *atomicfile.Dir, name string) (*os.File, error) {
	path := filepath.Join(dir.Path(), name)
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %v): %w", path, fi.Mode().Type(), atomicfile.ErrUnsafe)
	}
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil,
		syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL|fileFlagOpenReparse, 0)
	if err == errorSharingViolation {
		return nil, ErrBusy
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
