//go:build !unix

package atomicfile

import (
	"io/fs"
	"runtime"
)

// NoFollow is the open flag that refuses a symbolic link at the last
// element of a path (O_NOFOLLOW; 0 where there is none).
const NoFollow = 0

var isWindows = runtime.GOOS == "windows"

func isLinkError(error) bool { return false }

func linkCount(fs.FileInfo) uint64 { return 1 }
