package supervisor

import (
	"time"

	"github.com/ssmkit/ssmkit/internal/procid"
)

// An identity names a process by pid and start time, never by name.
type identity = procid.ID

// identify returns the identity of a running process.
func identify(pid int) identity { return procid.Of(pid) }

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
	for id.Running() {
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}
