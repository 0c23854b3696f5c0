package release

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/internal/filelock"
)

// LockName is the file in a DirTarget's directory that a publish locks.
const LockName = ".publish.lock"

// tempPrefix begins the names of DirTarget's temporary files.
const tempPrefix = ".publish.tmp-"

// DirTarget publishes into a local directory, such as a web server's
// document root for the UriFormat's Base. Every file is written
// atomically (a temporary file, synced, then linked or renamed in place,
// the temporary name removed and the directory synced before Put
// returns), with mode 0644 and directories 0755, set explicitly; no
// symbolic link below Dir is followed. IfAbsent is atomic (a hard link,
// which fails if the name exists); IfETag (the file's SHA-256) is checked
// just before the rename, which is safe because a Publish holds the
// directory's lock (see Lock) from its first read to its last write.
//
// A publish killed between a link and the removal of the temporary name
// leaves the published file with a second link, under a .publish.tmp-
// name in its directory: Open still reads such a file (its other links
// are only those leftovers), and the next publish removes them.
//
// A DirTarget must not be copied after first use.
type DirTarget struct {
	Dir string

	mu      sync.Mutex
	held    *os.File        // the lock of a Publish, nil when not held
	cleared map[string]bool // directories cleared of leftovers while held
}

var (
	_ Target = (*DirTarget)(nil)
	_ Locker = (*DirTarget)(nil)
)

// String returns the directory, ending with a separator, such as
// /srv/www/agent/.
func (d *DirTarget) String() string {
	if strings.HasSuffix(d.Dir, string(os.PathSeparator)) || strings.HasSuffix(d.Dir, "/") {
		return d.Dir
	}
	return d.Dir + string(os.PathSeparator)
}

func (d *DirTarget) open() (*atomicfile.Dir, error) {
	if d.Dir == "" {
		return nil, errors.New("release: DirTarget.Dir is empty")
	}
	return atomicfile.OpenDir(d.Dir)
}

// Lock takes the directory's publishing lock, an operating system lock
// on LockName in Dir (flock on Unix, an unshared handle on Windows),
// without waiting: when another publish (another process, or another
// DirTarget or Lock in this one) holds it, an error wrapping ErrConflict.
// The kernel lets the lock go if its holder dies. While the lock is held
// the temporary files that a killed publish left behind are removed: in
// Dir now, and in each directory Put writes in, before its first write.
func (d *DirTarget) Lock(ctx context.Context) (unlock func(), err error) {
	root, err := d.open()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	busy := fmt.Errorf("release: another publish holds %s: %w", filepath.Join(d.Dir, LockName), ErrConflict)
	if d.held != nil {
		return nil, busy
	}
	f, err := filelock.TryLock(root, LockName)
	if errors.Is(err, filelock.ErrBusy) {
		return nil, busy
	}
	if err != nil {
		return nil, fmt.Errorf("release: lock %s: %w", filepath.Join(d.Dir, LockName), err)
	}
	if err := clearLeftovers(root, "."); err != nil {
		f.Close()
		return nil, err
	}
	d.held, d.cleared = f, map[string]bool{".": true}
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.held == f {
				d.held, d.cleared = nil, nil
			}
			f.Close() // closing the descriptor lets the lock go; the file stays
		})
	}, nil
}

// clearIfHeld removes the leftovers in dir once while the lock is held.
func (d *DirTarget) clearIfHeld(root *atomicfile.Dir, dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.held == nil || d.cleared[dir] {
		return nil
	}
	if err := clearLeftovers(root, dir); err != nil {
		return err
	}
	d.cleared[dir] = true
	return nil
}

// clearLeftovers removes the temporary files in dir (of root), and syncs
// dir when it removed any. Only a lock holder may: any such file is then
// a leftover of a publish that was killed.
func clearLeftovers(root *atomicfile.Dir, dir string) error {
	names, err := leftovers(root.Root(), dir)
	if err != nil {
		return fmt.Errorf("release: %s: %w", filepath.Join(root.Path(), dir), err)
	}
	for _, name := range names {
		if err := root.Root().Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("release: remove the leftover %s: %w", filepath.Join(root.Path(), name), err)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return root.SyncDir(dir)
}

// leftovers lists the temporary files (regular files or links) in dir.
func leftovers(root *os.Root, dir string) ([]string, error) {
	f, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) && (e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0) {
			names = append(names, filepath.Join(dir, e.Name()))
		}
	}
	return names, nil
}

// Open opens the regular file at key.
func (d *DirTarget) Open(ctx context.Context, key string) (io.ReadCloser, string, error) {
	if err := checkKey(key); err != nil {
		return nil, "", fmt.Errorf("release: key %q: %w", key, err)
	}
	root, err := d.open()
	if err != nil {
		return nil, "", err
	}
	defer root.Close()
	f, err := openPublished(root, filepath.FromSlash(key))
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("release: %s: %w", key, err)
	}
	return f, sumHex(h), nil
}

// openPublished opens the regular file name of one link in root — or of
// more, when the others are all leftover temporary names in its own
// directory (a publish killed between its link and its removal).
func openPublished(root *atomicfile.Dir, name string) (*os.File, error) {
	f, err := root.Plain(name, os.O_RDONLY)
	if err == nil || !errors.Is(err, atomicfile.ErrUnsafe) {
		return f, err
	}
	before, lerr := root.Root().Lstat(name)
	if lerr != nil || !before.Mode().IsRegular() || linkCount(before) < 2 {
		return nil, err
	}
	names, lerr := leftovers(root.Root(), filepath.Dir(name))
	if lerr != nil {
		return nil, err
	}
	var n uint64 = 1
	for _, t := range names {
		if fi, lerr := root.Root().Lstat(t); lerr == nil && os.SameFile(before, fi) {
			n++
		}
	}
	if n != linkCount(before) {
		return nil, err // a link elsewhere: refused
	}
	f, oerr := root.Root().OpenFile(name, os.O_RDONLY|nonblock, 0)
	if oerr != nil {
		return nil, fmt.Errorf("release: %w", oerr)
	}
	if after, serr := f.Stat(); serr != nil || !os.SameFile(before, after) {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Put writes the file at key atomically if c holds.
func (d *DirTarget) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, sum []byte, c Condition) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("release: key %q: %w", key, err)
	}
	root, err := d.open()
	if err != nil {
		return "", err
	}
	defer root.Close()
	dir := path.Dir(key)
	if err := mkdirs(root.Root(), dir); err != nil {
		return "", fmt.Errorf("release: %s: %w", filepath.Join(d.Dir, dir), err)
	}
	if err := d.clearIfHeld(root, filepath.FromSlash(dir)); err != nil {
		return "", err
	}
	tmp, etag, err := writeTemp(root.Root(), dir, body, size, sum)
	if err != nil {
		return "", fmt.Errorf("release: %s: %w", filepath.Join(d.Dir, key), err)
	}
	linked, err := d.place(ctx, root, tmp, key, c)
	if err != nil || linked {
		// The temporary name goes before Put returns (and the directory
		// is synced below), so that the published file has one link.
		if rerr := root.Root().Remove(tmp); rerr != nil && err == nil {
			return "", fmt.Errorf("release: %s is published, but its temporary name could not be removed: %w", filepath.Join(d.Dir, key), rerr)
		}
	}
	if err != nil {
		return "", err
	}
	if err := root.SyncDir(filepath.FromSlash(dir)); err != nil {
		return "", err
	}
	return etag, nil
}

// place puts the temporary file tmp at key if c holds: a hard link for
// IfAbsent (linked reports it), else a rename.
func (d *DirTarget) place(ctx context.Context, root *atomicfile.Dir, tmp, key string, c Condition) (linked bool, err error) {
	name := filepath.FromSlash(key)
	if c.IfAbsent {
		if err := root.Root().Link(tmp, name); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return false, fmt.Errorf("release: %s: %w", filepath.Join(d.Dir, key), ErrConflict)
			}
			return false, fmt.Errorf("release: %w", err)
		}
		return true, nil
	}
	if c.IfETag != "" {
		f, cur, err := d.Open(ctx, key)
		if err != nil {
			return false, fmt.Errorf("release: %s: %w (%v)", filepath.Join(d.Dir, key), ErrConflict, err)
		}
		f.Close()
		if cur != c.IfETag {
			return false, fmt.Errorf("release: %s: %w", filepath.Join(d.Dir, key), ErrConflict)
		}
	}
	if err := root.Root().Rename(tmp, name); err != nil {
		return false, fmt.Errorf("release: %w", err)
	}
	return false, nil
}
