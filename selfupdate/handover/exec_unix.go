//go:build unix

package handover

import (
	"syscall"

	"github.com/ssmkit/ssmkit/selfupdate"
)

// CanExec says whether a core can replace itself with another version.
const CanExec = true

// ExecCurrent replaces this process with the version current points at —
// the binary named binary in it — run with args[1:] and env. It returns
// only on failure.
func ExecCurrent(l selfupdate.Layout, binary string, args, env []string) error {
	path, err := currentPath(l, binary)
	if err != nil {
		return err
	}
	return syscall.Exec(path, append([]string{path}, args[1:]...), env)
}
