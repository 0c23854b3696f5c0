//go:build !linux

package procid

import "os"

var osGetpid = os.Getpid

// Of returns what this platform can tell about a process: its pid. Without
// a start time the ID matches nothing: a process cannot be told apart from
// an unrelated one that reused its pid.
func Of(pid int) ID { return ID{PID: pid} }

// Running reports false: see Of.
func (id ID) Running() bool { return false }

// LeadsGroup reports false: see Of.
func (id ID) LeadsGroup() bool { return false }
