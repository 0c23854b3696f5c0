package supervisor

import (
	"time"
)

// An identity names a process so that it can be recognised later, by pid
// and start time (and boot), never by name: a pid reused by another process
// does not match.
type identity struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks,omitempty"`
	BootID     string `json:"boot_id,omitempty"`
}

// pastDeadline is a deadline in the past, for waking a blocked read.
var pastDeadline = time.Unix(1, 0)

// pollInterval is how often a process that is not the supervisor's child is
// checked where the platform cannot report its exit.
const pollInterval = 250 * time.Millisecond

// pollGone checks every poll interval until the process is gone or stop is
// closed.
func pollGone(id identity, stop <-chan struct{}) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for id.running() {
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}
