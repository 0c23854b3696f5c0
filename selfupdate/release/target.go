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

// A Locker is a Target that one publish at a time can hold: Publish calls
// Lock first, when its Target has it, and unlock when it is done. Lock
// does not wait: when another holds the target it returns an error
// wrapping ErrConflict. DirTarget is one (S3's conditional writes need
// no lock).
type Locker interface {
	Lock(ctx context.Context) (unlock func(), err error)
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
	tmp := filepath.Join(filepath.FromSlash(dir), tempPrefix+hex.EncodeToString(b[:]))
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
