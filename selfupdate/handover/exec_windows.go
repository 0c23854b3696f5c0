package handover

import (
	"errors"

	"github.com/ssmkit/ssmkit/selfupdate"
)

// CanExec says whether a core can replace itself with another version: not
// on Windows, where it exits and the guardian (or the service manager)
// starts the next one.
const CanExec = false

// ExecCurrent cannot replace a process on Windows.
func ExecCurrent(l selfupdate.Layout, binary string, args, env []string) error {
	return errors.New("handover: a process cannot exec another version on Windows")
}
