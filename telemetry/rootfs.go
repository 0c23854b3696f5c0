package telemetry

import (
	"fmt"
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
	d   *atomicfile.Dir
	dir string
}

func newRootFS(dir string) (*rootFS, error) {
	d, err := atomicfile.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return &rootFS{d: d, dir: filepath.Clean(dir)}, nil
}

func (r *rootFS) close() error { return r.d.Close() }

// rel names path within the root.
func (r *rootFS) rel(path string) (string, error) {
	rel, err := filepath.Rel(r.dir, filepath.Clean(path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is not in %s", path, r.dir)
	}
	return rel, nil
}

func (r *rootFS) create(path string) (file, error) {
	rel, err := r.rel(path)
	if err != nil {
		return nil, err
	}
	f, err := r.d.Root().OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if !isWindows {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, err
		}
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
	f, err := r.d.Plain(rel, flag)
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
	return r.d.Root().Rename(a, b)
}

func (r *rootFS) remove(path string) error {
	rel, err := r.rel(path)
	if err != nil {
		return err
	}
	return r.d.Remove(rel)
}

func (r *rootFS) syncDir(dir string) error {
	rel, err := r.rel(dir)
	if err != nil {
		return err
	}
	return r.d.SyncDir(rel)
}

func (r *rootFS) writeFile(path string, data []byte) error {
	rel, err := r.rel(path)
	if err != nil {
		return err
	}
	return r.d.WriteFile(rel, data, 0o600)
}

func (r *rootFS) readFile(path string) ([]byte, error) {
	rel, err := r.rel(path)
	if err != nil {
		return nil, err
	}
	return r.d.ReadFile(rel)
}

func (r *rootFS) freeBytes(dir string) int64 { return freeBytes(dir) }
