package supervisor

import (
	"fmt"
	"time"
)

// An EventKind names what happened to a worker.
type EventKind string

const (
	// EventStarted: a worker process was started.
	EventStarted EventKind = "started"
	// EventConnected: a workerproto worker completed its handshake (also
	// when it reconnects, as an adopted worker does).
	EventConnected EventKind = "connected"
	// EventReady: a workerproto worker reported that it finished starting;
	// Event.StartupTime says how long that took.
	EventReady EventKind = "ready"
	// EventExited: a worker process ended; Event.Exit says how.
	EventExited EventKind = "exited"
	// EventRestarting: a worker will be started again after Event.Delay.
	EventRestarting EventKind = "restarting"
	// EventUnresponsive: a workerproto worker missed too many pings and is
	// being killed.
	EventUnresponsive EventKind = "unresponsive"
	// EventGaveUp: a worker kept failing and will not be restarted until
	// Supervisor.Start is called for it.
	EventGaveUp EventKind = "gave-up"
	// EventAdopted: a worker left running by an earlier run of the core is
	// supervised again.
	EventAdopted EventKind = "adopted"
	// EventStopped: a worker was stopped on request (or its orphan was, per
	// OrphanStop) and is gone.
	EventStopped EventKind = "stopped"
)

// An Event reports something that happened to a worker. The supervisor
// passes events to Config.OnEvent and writes no logs of its own.
type Event struct {
	Kind   EventKind
	Worker string
	Time   time.Time
	// PID is the worker process's id, when there is one.
	PID int
	// Exit is how the process ended, for EventExited and EventGaveUp.
	Exit *ExitStatus
	// Reason says why, in a few words: "exited", "unresponsive: 3 pings
	// missed", "start failed: …", "permanent exit status 194".
	Reason string
	// Delay is the wait before the restart, for EventRestarting.
	Delay time.Duration
	// StartupTime is the time from start to readiness, for EventReady.
	StartupTime time.Duration
	// Orphan is set on events about a worker from an earlier run of the core.
	Orphan bool
}

// String formats the event as one line.
func (e Event) String() string {
	s := fmt.Sprintf("%s %s", e.Worker, e.Kind)
	if e.PID != 0 {
		s += fmt.Sprintf(" pid=%d", e.PID)
	}
	if e.Exit != nil {
		s += " exit=" + e.Exit.String()
	}
	if e.Delay != 0 || e.Kind == EventRestarting {
		s += " delay=" + e.Delay.String()
	}
	if e.StartupTime != 0 {
		s += " startup=" + e.StartupTime.String()
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// An ExitStatus is how a worker process ended.
type ExitStatus struct {
	// Code is the exit status, or -1 when the process was killed by a
	// signal or its status is unknown (an adopted process is not the
	// supervisor's child, so its status cannot be read).
	Code int
	// Signal is the signal that killed the process, such as "killed", or "".
	Signal string
	// Duration is how long the process ran.
	Duration time.Duration
	// StderrTail is the end of its standard error, at most 4 KiB.
	StderrTail string
}

// Success reports whether the process exited with status 0.
func (s *ExitStatus) Success() bool { return s.Code == 0 && s.Signal == "" }

func (s *ExitStatus) String() string {
	switch {
	case s.Signal != "":
		return "signal: " + s.Signal
	case s.Code < 0:
		return "unknown"
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

// A State is where a worker is in its life.
type State string

const (
	// StateStarting: the process runs but has not reported ready yet
	// (workerproto) or was just started.
	StateStarting State = "starting"
	// StateRunning: the process runs (and, for workerproto, is ready).
	StateRunning State = "running"
	// StateBackoff: the process exited and waits to be restarted.
	StateBackoff State = "backoff"
	// StateStopping: the process is being stopped.
	StateStopping State = "stopping"
	// StateStopped: not running, and not to be restarted: stopped on
	// request, or exited under its restart policy.
	StateStopped State = "stopped"
	// StateFailed: given up on after failing too often; Supervisor.Start
	// starts it again.
	StateFailed State = "failed"
)

// A WorkerStatus is a snapshot of one worker.
type WorkerStatus struct {
	Name  string
	State State
	// Protocol is how the worker's health is known (Spec.Protocol).
	Protocol Protocol
	// Reason says why the worker is stopped or was given up on: "start
	// limit: 5 starts within 10s …", "restart policy never", "permanent
	// exit status 194", "stopped on request"; empty while it runs.
	Reason string
	// PID is the running process's id, or 0.
	PID int
	// StartedAt is when the running process started.
	StartedAt time.Time
	// Ready is whether a workerproto worker has reported ready, or a probe
	// worker has answered a probe.
	Ready bool
	// Adopted is whether the running process was adopted from an earlier
	// run of the core.
	Adopted bool
	// Restarts counts the restarts since the worker was added.
	Restarts int
	// LastExit is how the previous process ended, or nil.
	LastExit *ExitStatus
	// LastPing is the round-trip time of the last answered ping.
	LastPing time.Duration
	// MissedPings is the number of pings missed in a row.
	MissedPings int
	// Executable is the file the running process was started from, as
	// the kernel has it (with " (deleted)" once it was removed or renamed
	// over): what RestartStale compares. Empty where the platform does not
	// tell (off Linux), or with no process.
	Executable string
}
