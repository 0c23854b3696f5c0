//go:build !unix

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
)

// NoFollow is the open flag that refuses a symbolic link at the last
// element of a path (O_NOFOLLOW; 0 where there is none).
const NoFollow = 0

var isWindows = runtime.GOOS == "windows"

const nonblock = 0

func isLinkError(error) bool { return false }

func isNotFileError(error) bool { return false }

func linkCount(fs.FileInfo) uint64 { return 1 }

var syscallENOTDIR = errors.New("not a directory")

// openDir opens a directory; links are not told apart here.
func openDir(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, syscallENOTDIR
	}
	return os.Open(path)
}

func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}
