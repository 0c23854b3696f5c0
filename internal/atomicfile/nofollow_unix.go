//go:build unix

package atomicfile

import (
	"errors"
	"io/fs"
	"syscall"
)

// NoFollow is the open flag that refuses a symbolic link at the last
// element of a path (O_NOFOLLOW; 0 where there is none).
const NoFollow = syscall.O_NOFOLLOW

const isWindows = false

func isLinkError(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}

func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
