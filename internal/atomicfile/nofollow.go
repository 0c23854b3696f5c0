package atomicfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// OpenFile opens path as os.OpenFile does, but never through a symbolic
// link at its last element (O_NOFOLLOW: a link there is an error, and its
// target is untouched), and only a regular file with no other hard link
// (so that truncating or appending cannot reach another file). When flag
// has os.O_CREATE, the file gets exactly perm, set on the descriptor,
// whatever the umask or the mode an existing file had. Use it, with
// os.O_EXCL where the file must be new, for every file written in a
// directory that someone else might have planted entries in.
//
// The directories above the last element are followed: check them once
// (owner, mode) before trusting them.
func OpenFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|NoFollow, perm)
	if err != nil {
		if isLinkError(err) {
			return nil, fmt.Errorf("atomicfile: %s is a symbolic link, not a file (it was not followed): %w", path, err)
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
		return fmt.Errorf("atomicfile: %s is not a regular file (mode %v)", path, fi.Mode().Type())
	}
	if n := linkCount(fi); n > 1 {
		return fmt.Errorf("atomicfile: %s has %d hard links; refusing to write a file that is also elsewhere", path, n)
	}
	return nil
}
