package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// A Dir is a directory of state files opened once: every operation goes
// through a handle on it (os.Root), so that a directory inside it, or the
// directory itself, swapped for a link to elsewhere after it was opened is
// never followed out; and the files it reads must be regular files of one
// link, not symbolic links, FIFOs or hard links to another file.
type Dir struct {
	root *os.Root
	path string
}

// OpenDir opens the directory at path.
func OpenDir(path string) (*Dir, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &Dir{root: root, path: path}, nil
}

// Close closes the handle.
func (d *Dir) Close() error { return d.root.Close() }

// Path is the directory's path, as it was opened.
func (d *Dir) Path() string { return d.path }

// Root is the handle, for the operations Dir has no method for.
func (d *Dir) Root() *os.Root { return d.root }

// Plain opens the existing file name in d with flag, refusing what is not
// a regular file of one link at that name (the name is checked, then the
// file opened is checked to be it); it never waits on a FIFO.
func (d *Dir) Plain(name string, flag int) (*os.File, error) {
	before, err := d.root.Lstat(name)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	full := filepath.Join(d.path, name)
	if err := checkRegular(full, before); err != nil {
		return nil, err
	}
	f, err := d.root.OpenFile(name, flag|nonblock, 0)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) {
		f.Close()
		return nil, fmt.Errorf("atomicfile: %s changed while it was opened: %w", full, ErrUnsafe)
	}
	return f, nil
}

// WriteFile writes data to the file name in d atomically and durably, with
// mode perm: a new temporary file, synced, renamed over name, and the
// directory synced.
func (d *Dir) WriteFile(name string, data []byte, perm fs.FileMode) error {
	var b [8]byte
	rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp-"+hex.EncodeToString(b[:]))
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	_, err = f.Write(data)
	if err == nil && !isWindows {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(tmp, name)
	}
	if err != nil {
		d.root.Remove(tmp)
		return fmt.Errorf("atomicfile: write %s: %w", filepath.Join(d.path, name), err)
	}
	return d.syncDir(filepath.Dir(name))
}

// SyncDir syncs the directory name in d ("." for d itself).
func (d *Dir) SyncDir(name string) error { return d.syncDir(name) }

func (d *Dir) syncDir(name string) error {
	f, err := d.root.Open(name)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !isWindows {
		return fmt.Errorf("atomicfile: sync %s: %w", filepath.Join(d.path, name), err)
	}
	return nil
}

// ReadFile reads the file name in d, refusing what is not a regular file
// of one link at that name.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.Plain(name, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: read %s: %w", filepath.Join(d.path, name), err)
	}
	return b, nil
}

// Remove removes the file name in d, if it is there, and syncs d.
func (d *Dir) Remove(name string) error {
	if err := d.root.Remove(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("atomicfile: %w", err)
	}
	return d.syncDir(filepath.Dir(name))
}
