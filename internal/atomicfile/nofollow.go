package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrUnsafe is wrapped by the errors of OpenFile and Mkdir for a name that
// is not a plain entry of its own: a symbolic link, a file with another
// hard link, or not a regular file (or not a directory). Removing the name
// (os.Remove unlinks a link itself, never its target) and creating it
// again with os.O_EXCL is safe.
var ErrUnsafe = errors.New("not a plain entry of its own")

// OpenFile opens path as os.OpenFile does, but never through a symbolic
// link at its last element (O_NOFOLLOW: a link there is an error, and its
// target is untouched), and only a regular file with no other hard link
// (so that truncating or appending cannot reach another file); a FIFO
// there is refused without blocking. When flag
// has os.O_CREATE, the file gets exactly perm, set on the descriptor,
// whatever the umask or the mode an existing file had. Use it, with
// os.O_EXCL where the file must be new, for every file written in a
// directory that someone else might have planted entries in.
//
// The directories above the last element are followed: check them once
// (owner, mode) before trusting them.
func OpenFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	// O_TRUNC waits for the checks: at open it would cut a hard link's
	// other file.
	f, err := openNoFollow(path, flag&^os.O_TRUNC, perm)
	if err != nil {
		if isLinkError(err) || isNotFileError(err) {
			return nil, fmt.Errorf("atomicfile: %s is a symbolic link or not a regular file (not followed, not written): %w", path, ErrUnsafe)
		}
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := checkRegular(path, fi); err != nil {
		f.Close()
		return nil, err
	}
	if flag&os.O_CREATE != 0 && fi.Mode().Perm() != perm.Perm() {
		if err := f.Chmod(perm.Perm()); err != nil && !isWindows {
			f.Close()
			return nil, fmt.Errorf("atomicfile: %w", err)
		}
	}
	if flag&os.O_TRUNC != 0 && fi.Size() > 0 {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("atomicfile: %w", err)
		}
	}
	return f, nil
}

// ReadFile reads the regular file at path without following a symbolic
// link at its last element.
func ReadFile(path string) ([]byte, error) {
	f, err := OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: read %s: %w", path, err)
	}
	return b, nil
}

// checkRegular refuses what is not a regular file of one link.
func checkRegular(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("atomicfile: %s is not a regular file (mode %v): %w", path, fi.Mode().Type(), ErrUnsafe)
	}
	if n := linkCount(fi); n > 1 {
		return fmt.Errorf("atomicfile: %s has %d hard links, refusing a file that is also elsewhere: %w", path, n, ErrUnsafe)
	}
	return nil
}

// Mkdir makes the directory path with mode perm, set on its descriptor
// whatever the umask, or checks the one that is there: it must be a
// directory, not a symbolic link to one (an error wrapping ErrUnsafe),
// and a mode wider than perm is narrowed to it (never widened). The
// directories above path are followed.
func Mkdir(path string, perm fs.FileMode) error {
	made := true
	if err := os.Mkdir(path, perm); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("atomicfile: %w", err)
		}
		made = false
	}
	d, err := openDir(path)
	if err != nil {
		if isLinkError(err) || errors.Is(err, syscallENOTDIR) {
			return fmt.Errorf("atomicfile: %s is a symbolic link or not a directory (it was not followed): %w", path, ErrUnsafe)
		}
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("atomicfile: %s is not a directory: %w", path, ErrUnsafe)
	}
	mode, want := fi.Mode().Perm(), fi.Mode().Perm()&perm.Perm()
	if made {
		want = perm.Perm()
	}
	if want != mode {
		if err := d.Chmod(want); err != nil && !isWindows {
			return fmt.Errorf("atomicfile: %w", err)
		}
	}
	return nil
}
