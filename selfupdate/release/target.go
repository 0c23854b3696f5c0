package release

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// Errors a Target's Put returns, and Publish wraps.
var (
	// ErrConflict: the object is not what the condition required — an
	// object exists where none should, or it changed since it was read
	// (another publisher got there first).
	ErrConflict = errors.New("the published object changed or exists (another publisher?)")
)

// A Condition is what must hold of the object at a key for Put to write.
// The zero value writes unconditionally.
type Condition struct {
	// IfAbsent writes only if there is no object at the key.
	IfAbsent bool
	// IfETag, when not empty, writes only if the object at the key has
	// this ETag (as Open returned it).
	IfETag string
}

// A Target is where a release is published: a store of objects by key
// (slash-separated, relative to the target's root).
type Target interface {
	// Open returns the object at key and its ETag; an error wrapping
	// fs.ErrNotExist when there is none.
	Open(ctx context.Context, key string) (io.ReadCloser, string, error)
	// Put writes size bytes of body at key if c holds, else returns an
	// error wrapping ErrConflict; sha256 is the body's SHA-256 when known
	// (nil otherwise), for the store to check what it received. It returns
	// the new object's ETag.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, sha256 []byte, c Condition) (string, error)
	// String names the target's root, such as s3://bucket/prefix/.
	String() string
}

// DirTarget publishes into a local directory, such as a web server's
// document root for the UriFormat's Base. Every file is written
// atomically (a temporary file, synced, then linked or renamed in place,
// the directory synced), with mode 0644 and directories 0755, set
// explicitly; no symbolic link below Dir is followed. IfAbsent is atomic
// (a hard link, which fails if the name exists); IfETag (the file's
// SHA-256) is checked just before the rename, which two publishers on one
// machine could race.
type DirTarget struct {
	Dir string
}

var _ Target = (*DirTarget)(nil)

// String returns the directory.
func (d *DirTarget) String() string { return d.Dir }

func (d *DirTarget) open() (*atomicfile.Dir, error) {
	if d.Dir == "" {
		return nil, errors.New("release: DirTarget.Dir is empty")
	}
	return atomicfile.OpenDir(d.Dir)
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
	f, err := root.Plain(filepath.FromSlash(key), os.O_RDONLY)
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
	tmp, etag, err := writeTemp(root.Root(), dir, body, size, sum)
	if err != nil {
		return "", fmt.Errorf("release: %s: %w", filepath.Join(d.Dir, key), err)
	}
	defer root.Root().Remove(tmp)
	name := filepath.FromSlash(key)
	switch {
	case c.IfAbsent:
		if err := root.Root().Link(tmp, name); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("release: %s: %w", filepath.Join(d.Dir, key), ErrConflict)
			}
			return "", fmt.Errorf("release: %w", err)
		}
	default:
		if c.IfETag != "" {
			f, cur, err := d.Open(ctx, key)
			if err != nil {
				return "", fmt.Errorf("release: %s: %w (%v)", filepath.Join(d.Dir, key), ErrConflict, err)
			}
			f.Close()
			if cur != c.IfETag {
				return "", fmt.Errorf("release: %s: %w", filepath.Join(d.Dir, key), ErrConflict)
			}
		}
		if err := root.Root().Rename(tmp, name); err != nil {
			return "", fmt.Errorf("release: %w", err)
		}
	}
	if err := root.SyncDir(filepath.FromSlash(dir)); err != nil {
		return "", err
	}
	return etag, nil
}

// mkdirs makes each directory of dir in root that is missing, mode 0755
// set explicitly, refusing a link or a non-directory on the way.
func mkdirs(root *os.Root, dir string) error {
	if dir == "." {
		return nil
	}
	cur := ""
	for _, seg := range strings.Split(dir, "/") {
		cur = path.Join(cur, seg)
		name := filepath.FromSlash(cur)
		err := root.Mkdir(name, 0o755)
		made := err == nil
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err := root.Lstat(name)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is a symbolic link or not a directory: %w", cur, atomicfile.ErrUnsafe)
		}
		if made {
			if err := root.Chmod(name, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeTemp writes body to a new temporary file in dir, mode 0644,
// synced, checking its size and SHA-256; it returns its name and ETag.
func writeTemp(root *os.Root, dir string, body io.ReadSeeker, size int64, sum []byte) (string, string, error) {
	var b [8]byte
	rand.Read(b[:])
	tmp := filepath.Join(filepath.FromSlash(dir), ".publish.tmp-"+hex.EncodeToString(b[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), body)
	switch {
	case err != nil:
	case n != size:
		err = fmt.Errorf("read %d bytes, want %d", n, size)
	case sum != nil && hex.EncodeToString(sum) != sumHex(h):
		err = fmt.Errorf("SHA-256 %s, want %x: the file changed while it was published", sumHex(h), sum)
	}
	if err == nil {
		err = f.Chmod(0o644)
		if isWindows {
			err = nil
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(tmp)
		return "", "", err
	}
	return tmp, sumHex(h), nil
}
