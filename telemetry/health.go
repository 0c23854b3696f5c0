package telemetry

import (
	"errors"
	"fmt"
	"time"
)

// StateDegraded is the SpoolStatus state of a spool that cannot work as
// it should: events are refused (the disk is full or failing), or
// segments cannot be preallocated for lack of space (events are stored,
// more slowly). It ends by itself when the disk allows.
const StateDegraded = "degraded"

// ErrDegraded is wrapped by the error passed to Config.OnError (with an
// empty sink name) when the spool becomes degraded.
var ErrDegraded = errors.New("spool degraded")

// A SpoolStatus is a snapshot of the spool, for a status command.
type SpoolStatus struct {
	// State is StateOK or StateDegraded; Reason says why it is degraded,
	// naming the file and the error, such as "no space left on device".
	State  string
	Reason string
	// Since is when the spool became degraded; zero when it is OK.
	Since time.Time
	// Rejected counts the events Record could not store since Open (it
	// returned an error wrapping ErrNotRecorded for each).
	Rejected uint64
	// Bytes and Segments are the records kept on disk and their files.
	Bytes    int64
	Segments int
}

// SpoolStatus returns a snapshot of the spool.
func (p *Pipeline) SpoolStatus() SpoolStatus {
	s := p.spool
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	st := SpoolStatus{State: StateOK, Reason: s.health.reason, Rejected: s.health.rejected, Segments: len(s.segments)}
	if st.Reason != "" {
		st.State, st.Since = StateDegraded, s.health.since
	}
	for _, seg := range s.segments {
		st.Bytes += seg.size
	}
	return st
}

// spoolHealth tells OnError that the spool's health changed.
func (p *Pipeline) spoolHealth(reason string) {
	if p.cfg.OnError == nil {
		return
	}
	if reason == "" {
		p.cfg.OnError("", nil)
		return
	}
	p.cfg.OnError("", fmt.Errorf("telemetry: %w: %s", ErrDegraded, reason))
}
