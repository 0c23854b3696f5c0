package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/internal/ctlhttp"
	"github.com/ssmkit/ssmkit/internal/unixsock"
)

// The control socket: HTTP over a Unix socket (mode 0600, in the 0700 ipc
// directory) on which the running core answers status and update requests
// from the CLI, and the update guardian's.
//
//	GET  /status           the core's Status
//	POST /update           check the manifest now and update if it says so
//	POST /handover         exit, leaving the workers running for the next core
//	POST /workers/restart  restart the workers on a stale binary
//	POST /result           a guardian has ended an update: tell its result
//
// The last three are selfupdate/handover's Handler.

func ipcDir(dataDir string) string          { return filepath.Join(dataDir, "ipc") }
func controlSocket(dataDir string) string   { return filepath.Join(ipcDir(dataDir), "control.sock") }
func workerSocket(dataDir string) string    { return filepath.Join(ipcDir(dataDir), "core.sock") }
func supervisorState(dataDir string) string { return filepath.Join(dataDir, "supervisor") }

// Status is what GET /status answers and `ssm-agent status --json` prints.
type Status struct {
	Version string         `json:"version"`
	PID     int            `json:"pid"`
	Started time.Time      `json:"started"`
	DataDir string         `json:"dataDir"`
	LogDir  string         `json:"logDir"`
	Workers []WorkerStatus `json:"workers"`
	// Healthy: every worker runs, and every worker with a protocol is
	// ready; HealthReasons says what is not, when it is false.
	Healthy       bool              `json:"healthy"`
	HealthReasons []string          `json:"healthReasons,omitempty"`
	Update        UpdateStatus      `json:"update"`
	Telemetry     []TelemetryStatus `json:"telemetry"`
	// TelemetrySpool is the state of the durable queue all sinks read from:
	// ok, degraded (the disk is full or failing: events are refused until
	// it recovers, by itself), or unavailable (it could not open; retried).
	TelemetrySpool SpoolStatus `json:"telemetrySpool"`
}

// SpoolStatus is the telemetry spool in Status.
type SpoolStatus struct {
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Rejected uint64    `json:"rejected"` // events refused since the core started
	Bytes    int64     `json:"bytes"`
}

// WorkerStatus is one worker in Status.
type WorkerStatus struct {
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	State      string `json:"state"`
	Protocol   string `json:"protocol"`
	Reason     string `json:"reason,omitempty"` // why it is not running, such as a start limit
	Ready      bool   `json:"ready"`
	Adopted    bool   `json:"adopted"`
	Restarts   int    `json:"restarts"`
	LastExit   string `json:"lastExit"`
	LastPingUs int64  `json:"lastPingMicros"`
	Executable string `json:"executable,omitempty"`
}

// UpdateStatus is the self-update part of Status.
type UpdateStatus struct {
	Enabled    bool      `json:"enabled"`         // Agent.SelfUpdate: updates on the schedule
	State      string    `json:"state"`           // idle, updating, or unavailable
	Phase      string    `json:"phase,omitempty"` // the phase of the last update
	Source     string    `json:"source,omitempty"`
	Target     string    `json:"target,omitempty"`
	LastResult string    `json:"lastResult"`
	LastError  string    `json:"lastError,omitempty"`
	Updated    time.Time `json:"updated,omitzero"`
	// Of the scheduled updater's last check (absent before one): when
	// the update it found due may happen (absent when it was allowed at
	// once, and so begun, or may not happen: none, or a paused rollout),
	// where the agent stands in the release's rollout, as update --check
	// prints it, and when the updater checks next.
	NextAllowed time.Time    `json:"nextAllowed,omitzero"`
	Rollout     *rolloutJSON `json:"rollout,omitempty"`
	NextCheck   time.Time    `json:"nextCheck,omitzero"`
}

// TelemetryStatus is one telemetry sink in Status.
type TelemetryStatus struct {
	Sink      string `json:"sink"`
	State     string `json:"state"`
	Pending   uint64 `json:"pending"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	LastError string `json:"lastError,omitempty"`
}

// UpdateReply is what POST /update answers.
type UpdateReply struct {
	Action   string `json:"action"` // none, updated, failed, in-progress
	Reason   string `json:"reason,omitempty"`
	Result   string `json:"result,omitempty"`
	Source   string `json:"source,omitempty"`
	Target   string `json:"target,omitempty"`
	Error    string `json:"error,omitempty"`
	Guardian bool   `json:"guardian,omitempty"` // a guardian is finishing the update
}

// listenControl makes the control socket, replacing a stale one.
func listenControl(dataDir string) (net.Listener, error) {
	path := controlSocket(dataDir)
	l, err := unixsock.Listen(path, unixsock.Config{})
	if errors.Is(err, unixsock.ErrInUse) {
		return nil, fmt.Errorf("a core is already running with data dir %s (control socket %s answers)", dataDir, path)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// controlAnswers says whether a core listens on the control socket.
func controlAnswers(dataDir string) bool {
	return unixsock.Answers(controlSocket(dataDir), unixsock.DefaultProbeTimeout)
}

// controlClient talks to the core whose data directory is dataDir.
func controlClient(dataDir string) *http.Client { return ctlhttp.Client(controlSocket(dataDir), true) }

// callCore sends a request to the core and decodes its JSON answer into out.
func callCore(ctx context.Context, dataDir, method, path string, body, out any) error {
	err := ctlhttp.Call(ctx, controlClient(dataDir), method, path, body, out)
	if ne := (*net.OpError)(nil); errors.As(err, &ne) {
		return fmt.Errorf("no core is answering for data dir %s (%s): %w", dataDir, controlSocket(dataDir), ne.Err)
	}
	return err
}
