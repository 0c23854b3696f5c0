//go:build !linux

package supervisor

// identify returns what this platform can tell about a process: its pid.
// Without a start time the identity matches nothing, so a supervisor here
// never adopts or stops a process from an earlier run: it cannot tell it
// apart from an unrelated process that reused the pid.
func identify(pid int) identity { return identity{PID: pid} }

func (id identity) running() bool    { return false }
func (id identity) leadsGroup() bool { return false }

// waitGone waits for the process to be gone, by polling.
func waitGone(id identity, stop <-chan struct{}) { pollGone(id, stop) }
