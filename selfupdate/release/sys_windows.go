package release

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

const nonblock = 0

func linkCount(fs.FileInfo) uint64 { return 1 }

// openInput opens a file to read, refusing a symbolic link at path and
// anything but a regular file.
func openInput(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s is a symbolic link (not followed): %w", path, atomicfile.ErrUnsafe)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if after, err := f.Stat(); err != nil || !os.SameFile(fi, after) {
		f.Close()
		return nil, fmt.Errorf("%s changed while it was opened: %w", path, atomicfile.ErrUnsafe)
	}
	return checkInput(f, path)
}
