//go:build unix

package unixsock

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a directory owned by neither this process's user nor
// root.
func checkOwner(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(st.Uid); uid != os.Getuid() && uid != 0 {
		return fmt.Errorf("socket directory %s belongs to uid %d, neither this process's (%d) nor root", dir, uid, os.Getuid())
	}
	return nil
}
