package telemetry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// rootFS is the pipeline's file system: every operation goes through a
// handle on Config.Dir opened once (os.Root), so that a directory inside
// it swapped for a link to elsewhere while the pipeline runs is refused,
// never followed out; and a link or a hard link planted at a file's own
// name is refused as by atomicfile.OpenFile (the name is checked before
// the open, and the file opened is checked to be what was there).
type rootFS struct {
	root *os.Root
	dir  string
}

func newRootFS(dir string) (*rootFS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &rootFS{root: root, dir: filepath.Clean(dir)}, nil
}

func (r *rootFS) close() error { return r.root.Close() }

// rel names path within the root.
func (r *rootFS) rel(path string) (string, error) {
	rel, err := filepath.Rel(r.dir, filepath.Clean(path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is not in %s", path, r.dir)
	}
	return rel, nil
}

// plain opens an existing entry, refusing a link, a FIFO or a file with
// another hard link at its name.
func (r *rootFS) plain(rel string, flag int) (*os.File, error) {
	before, err := r.root.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() || linkCount(before) > 1 {
		return nil, fmt.Errorf("%s is a link, or not a regular file of its own (not followed, not written): %w", filepath.Join(r.dir, rel), atomicfile.ErrUnsafe)
	}
	f, err := r.root.OpenFile(rel, flag|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) {
		f.Close()
		return nil, fmt.Errorf("%s changed while it was opened: %w", filepath.Join(r.dir, rel), atomicfile.ErrUnsafe)
	}
	return f, nil
}

func (r *rootFS) create(path string) (file, error) {
	rel, err := r.rel(path)
	if err != nil {
		return nil, err
	}
	f, err := r.root.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := chmodFile(f, 0o600); err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f}, nil
}

func (r *rootFS) open(path string, rw bool) (file, error) {
	rel, err := r.rel(path)
	if err != nil {
		return nil, err
	}
	flag := os.O_RDONLY
	if rw {
		flag = os.O_RDWR
	}
	f, err := r.plain(rel, flag)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (r *rootFS) rename(from, to string) error {
	a, err := r.rel(from)
	if err != nil {
		return err
	}
	b, err := r.rel(to)
	if err != nil {
		return err
	}
	return r.root.Rename(a, b)
}

func (r *rootFS) remove(path string) error {
	rel, err := r.rel(path)
	if err != nil {
		return err
	}
	if err := r.root.Remove(rel); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (r *rootFS) syncDir(dir string) error {
	rel, err := r.rel(dir)
	if err != nil {
		return err
	}
	d, err := r.root.Open(rel)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isWindows {
		return err
	}
	return nil
}

// writeFile replaces a file atomically and durably: a new temporary file,
// synced, renamed over the name, the directory synced.
func (r *rootFS) writeFile(path string, data []byte) error {
	rel, err := r.rel(path)
	if err != nil {
		return err
	}
	var b [8]byte
	rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(rel), "."+filepath.Base(rel)+".tmp-"+hex.EncodeToString(b[:]))
	f, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = chmodFile(f, 0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.root.Rename(tmp, rel)
	}
	if err != nil {
		r.root.Remove(tmp)
		return err
	}
	return r.syncDir(filepath.Dir(path))
}

func (r *rootFS) readFile(path string) ([]byte, error) {
	rel, err := r.rel(path)
	if err != nil {
		return nil, err
	}
	f, err := r.plain(rel, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (r *rootFS) freeBytes(dir string) int64 { return freeBytes(dir) }

// chmodFile sets a file's mode on its descriptor (nothing on Windows).
func chmodFile(f *os.File, mode os.FileMode) error {
	if isWindows {
		return nil
	}
	return f.Chmod(mode)
}
