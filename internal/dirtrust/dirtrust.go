// Package dirtrust decides whether a directory may be trusted by a process
// that runs as root on a host it does not control, as sshd's StrictModes
// does: a directory that another user owns or can write — or any of its
// parents — can have its files replaced or redirected under the process's
// feet, so nothing in it may be trusted.
package dirtrust

import (
	"errors"
	"fmt"
)

// ErrUntrusted is wrapped by the errors of Check.
var ErrUntrusted = errors.New("untrusted directory")

// An Error says which directory is not to be trusted, why, and the fix.
type Error struct {
	Path string // the directory (or link) at fault
	Why  string // "is owned by uid 65534", …
	Fix  string // a command that fixes it
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Path, e.Why, e.Fix)
}

func (e *Error) Unwrap() error { return ErrUntrusted }
