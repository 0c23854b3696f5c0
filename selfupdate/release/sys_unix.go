//go:build unix

package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// nonblock keeps an open of a FIFO from waiting for a writer.
const nonblock = syscall.O_NONBLOCK

func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// openInput opens a file to read: a symbolic link at path is refused, not
// followed, and so is anything but a regular file (without waiting on a
// FIFO). A file with other hard links is fine: it is only read.
func openInput(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link (not followed): %w", path, atomicfile.ErrUnsafe)
		}
		if errors.Is(err, syscall.ENXIO) {
			return nil, fmt.Errorf("%s is not a regular file: %w", path, atomicfile.ErrUnsafe)
		}
		return nil, err
	}
	return checkInput(f, path)
}
