package telemetry

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// A fileSystem is the few file operations of the spool and the
// checkpoints. The pipeline uses osFS; tests wrap it to fail chosen
// operations as a full or failing disk does. Every open refuses a
// symbolic link at the last element of the path and a file with another
// hard link, and every file is created with mode 0600 set on its
// descriptor.
type fileSystem interface {
	// create makes a new file for reading and writing; it fails if the
	// name exists, even as a link.
	create(path string) (file, error)
	// open opens an existing file, for writing too when rw is true.
	open(path string, rw bool) (file, error)
	rename(from, to string) error
	remove(path string) error
	syncDir(dir string) error
	// writeFile replaces a file atomically and durably (atomicfile).
	writeFile(path string, data []byte) error
	readFile(path string) ([]byte, error)
	// freeBytes returns the space left to unprivileged writers in dir,
	// or -1 when it is not known.
	freeBytes(dir string) int64
}

// A file is an open spool file.
type file interface {
	io.Reader
	io.ReaderAt
	io.WriterAt
	io.Closer
	// datasync flushes the data and what is needed to read it back.
	datasync() error
	Sync() error
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Name() string
}

// osFS is the real file system.
type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) datasync() error { return datasync(f.File) }

func (osFS) create(path string) (file, error) {
	f, err := atomicfile.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) open(path string, rw bool) (file, error) {
	flag := os.O_RDONLY
	if rw {
		flag = os.O_RDWR
	}
	f, err := atomicfile.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) rename(from, to string) error { return os.Rename(from, to) }

func (osFS) remove(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (osFS) syncDir(dir string) error { return atomicfile.SyncDir(dir) }

func (osFS) writeFile(path string, data []byte) error { return atomicfile.WriteFile(path, data, 0o600) }

func (osFS) readFile(path string) ([]byte, error) { return atomicfile.ReadFile(path) }

func (osFS) freeBytes(dir string) int64 { return freeBytes(dir) }

// zeroBlock is what zeroFill writes from. Never written to, it stays
// the kernel's shared zero page: it costs the process no memory, where a
// buffer allocated for each spare segment was garbage the idle heap grew
// by.
var zeroBlock [64 << 10]byte

// zeroFill writes size zero bytes at the start of f and syncs them.
func zeroFill(f file, size int64) error {
	zeros := zeroBlock[:]
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return fmt.Errorf("zero-fill %s: %w", f.Name(), err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return nil
}

// makeDir makes dir with mode 0700 and its missing parents, and checks
// that dir itself is a directory and not a link (its parents are the
// caller's to check).
func makeDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("%w", err)
	}
	return makeSubdir(dir)
}

// makeSubdir makes dir, a directory of the pipeline's own inside
// Config.Dir, with mode 0700 if it is missing, and checks that it is a
// directory and not a link to one elsewhere.
func makeSubdir(dir string) error {
	if err := atomicfile.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, atomicfile.ErrUnsafe) {
			return fmt.Errorf("%w; it must be a directory of the pipeline's own: remove it", err)
		}
		return fmt.Errorf("%w", err)
	}
	return nil
}

// fileError names the operation and the file, which the error from an
// open file may name by an older name.
func fileError(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}
