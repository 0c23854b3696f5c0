//go:build !linux

package supervisor

import (
	"errors"
	"fmt"
)

// waitGone waits for the process to be gone, by polling. (Elsewhere than
// on Linux an identity matches nothing, so this returns at once.)
func waitGone(id identity, stop <-chan struct{}) { pollGone(id, stop) }

// processExecutable cannot tell the executable of a process here.
func processExecutable(int) (string, error) {
	return "", fmt.Errorf("which executable a process runs: %w", errors.ErrUnsupported)
}
