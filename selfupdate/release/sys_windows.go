package release

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

const nonblock = 0

func linkCount(fs.FileInfo) uint64 { return 1 }

const (
	errorSharingViolation syscall.Errno = 32
	fileFlagOpenReparse                 = 0x00200000 // FILE_FLAG_OPEN_REPARSE_POINT
)

// lockFile opens the lock file name in dir with no sharing: while the
// handle is open no other process can open the file (errLockBusy), and
// the handle closes when its process ends. A link at its name is opened
// as itself, never followed.
func lockFile(dir *atomicfile.Dir, name string) (*os.File, error) {
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
		return nil, errLockBusy
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// openInput opens a file to read, refusing a symbolic link at path and
// anything but a regular file.
func openInput(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s is a symbolic link (not followed): %w", path, atomicfile.ErrUnsafe)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if after, err := f.Stat(); err != nil || !os.SameFile(fi, after) {
		f.Close()
		return nil, fmt.Errorf("%s changed while it was opened: %w", path, atomicfile.ErrUnsafe)
	}
	return checkInput(f, path)
}
