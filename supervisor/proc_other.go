//go:build !linux

package supervisor

// waitGone waits for the process to be gone, by polling. (Elsewhere than
// on Linux an identity matches nothing, so this returns at once.)
func waitGone(id identity, stop <-chan struct{}) { pollGone(id, stop) }
