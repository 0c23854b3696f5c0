package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

// A Policy says when a worker that exited is started again.
type Policy string

const (
	// RestartAlways restarts a worker whenever it exits (the default).
	RestartAlways Policy = "always"
	// RestartOnFailure restarts a worker that exited with a non-zero
	// status, was killed by a signal, or stopped answering.
	RestartOnFailure Policy = "on-failure"
	// RestartNever leaves a worker that exited stopped.
	RestartNever Policy = "never"
)

// A Protocol says how the supervisor knows that a worker is healthy.
type Protocol string

const (
	// ProtocolPlain: the worker is a plain process; it is alive while it
	// runs (the default).
	ProtocolPlain Protocol = "plain"
	// ProtocolWorkerproto: the worker speaks workerproto. It is pinged every
	// health interval and replaced when it stops answering; it reports
	// readiness and telemetry events, and is asked to terminate before any
	// signal.
	ProtocolWorkerproto Protocol = "workerproto"
	// ProtocolProbe: the worker speaks a protocol of its own, which
	// Spec.Probe speaks for the supervisor — SSM Agent v3's IPC with
	// workerproto/ssmv3, say. It is probed every health interval and
	// replaced after MaxMissedPings failed probes in a row; it is ready once
	// a probe succeeds; it is asked to stop through the prober, then
	// signalled if it does not.
	ProtocolProbe Protocol = "probe"
)

// A Prober checks the health of workers of a protocol the supervisor does
// not speak itself, and asks them to stop. Its methods may be called from
// several goroutines at once.
type Prober interface {
	// Probe returns nil when the worker process pid answered and is
	// healthy. The context bounds it (Spec.HealthTimeout).
	Probe(ctx context.Context, pid int) error
	// Terminate asks the worker process pid to stop and returns without
	// waiting for it to exit; the supervisor waits.
	Terminate(ctx context.Context, pid int) error
}

// An OrphanPolicy says what a supervisor does with a worker it finds still
// running from an earlier run of the core.
type OrphanPolicy string

const (
	// OrphanAdopt supervises the running worker again without restarting
	// it (the default).
	OrphanAdopt OrphanPolicy = "adopt"
	// OrphanStop stops it gracefully and starts a new one.
	OrphanStop OrphanPolicy = "stop"
)

// Backoff is the delay before restarting a worker that exited: Initial at
// first, then growing by Multiplier up to Max, each delay varied at random
// by ±Jitter of itself. A worker that has run for Spec.StableAfter restarts
// at once after it exits, and the delays start again from Initial.
type Backoff struct {
	// Initial is the first delay. Zero means 100 ms; a negative value means
	// no delay at all: restart at once, every time.
	Initial time.Duration
	// Max is the longest delay, jitter included. Zero means 30 s.
	Max time.Duration
	// Multiplier is the growth factor. Zero means 2; otherwise at least 1.
	Multiplier float64
	// Jitter is the random variation, a fraction from 0 to 1. Zero means
	// 0.2; a negative value means none.
	Jitter float64
}

// Intensity limits restarts: a worker that keeps failing is given up on
// (state StateFailed) instead of being restarted for ever. Each unplanned
// exit adds one to a failure count that halves every Decay; when the count
// exceeds MaxFailures the worker is given up on. With the defaults a worker
// is given up on after about six exits in quick succession, while one that
// fails once a minute runs for ever.
type Intensity struct {
	// MaxFailures is the failure count that is tolerated. Zero means 5; a
	// negative value means no limit.
	MaxFailures float64
	// Decay is the half-life of the failure count. Zero means 1 minute.
	Decay time.Duration
}

// A StartLimit gives up on a worker started too often, as systemd's
// StartLimitBurst and StartLimitIntervalSec do: when a worker has been
// started Burst times within Interval and exits again, it is not started
// once more (state StateFailed, with the reason in WorkerStatus.Reason).
// Every start counts, whatever the exit status — a worker that exits 0 at
// once, for ever, under RestartAlways is given up on like one that
// crashes. Starts on request (Supervisor.Start, Restart) forget the count.
type StartLimit struct {
	// Burst is the number of starts allowed within Interval. Zero means no
	// start limit (Intensity still applies).
	Burst int
	// Interval is the window in which starts are counted. Default 10 s
	// when Burst is set.
	Interval time.Duration
}

// A Spec describes one long-running worker. The zero value of every field
// but Name and Path means the documented default.
type Spec struct {
	// Name identifies the worker among the supervisor's workers: letters,
	// digits, '.', '_' and '-', at most 64. Required.
	Name string
	// Path is the program to run. Required.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is added to the supervisor's own environment.
	Env []string
	// Dir is the working directory; empty means the supervisor's.
	Dir string

	// Restart is the restart policy; default RestartAlways.
	Restart Policy
	// Backoff is the delay before a restart.
	Backoff Backoff
	// Intensity gives up on a worker that keeps failing.
	Intensity Intensity
	// StartLimit gives up on a worker started too often, whatever its
	// exit statuses.
	StartLimit StartLimit
	// StableAfter is how long a worker must run to count as stable: it is
	// then restarted at once after an exit, and its backoff starts again
	// from Backoff.Initial. Default 10 s.
	StableAfter time.Duration
	// PermanentExitCodes are exit statuses after which the worker is not
	// restarted, whatever the policy, like systemd's
	// RestartPreventExitStatus (the SSM Agent uses 194 for "reboot
	// requested").
	PermanentExitCodes []int
	// StopTimeout is how long a stopping worker may take before its whole
	// process group is killed. Default 10 s.
	StopTimeout time.Duration

	// Protocol is how the worker's health is known; default ProtocolPlain.
	Protocol Protocol
	// Probe speaks for the supervisor to a ProtocolProbe worker.
	Probe Prober
	// HealthInterval is the time between pings or probes (workerproto and
	// probe). Default 5 s.
	HealthInterval time.Duration
	// HealthTimeout bounds each ping. Default 2 s; at most HealthInterval.
	HealthTimeout time.Duration
	// MaxMissedPings is how many pings in a row may go unanswered, or
	// answered by a worker not yet connected, before the worker counts as
	// unresponsive and is killed and restarted. Default 3.
	MaxMissedPings int

	// Output is where the worker's output goes. The default,
	// OutputWriters, pipes it into Stdout and Stderr through the core, and
	// such a worker cannot outlive its core; a worker that may be adopted
	// or handed over should use OutputFile, OutputJournal or OutputAuto,
	// whose output reaches its file or the journal whether a core runs or
	// not.
	Output Output
	// Stdout and Stderr receive the worker's output with OutputWriters;
	// nil discards it. The last 4 KiB of stderr are kept for the worker's
	// status either way (with OutputFile, the last 4 KiB of the log file).
	// A *RotatingFile writes to a size-rotated file.
	Stdout, Stderr io.Writer

	// Orphans is what happens to a copy of this worker left running by an
	// earlier run of the core; default OrphanAdopt. It needs
	// Config.StateDir.
	Orphans OrphanPolicy
	// DieWithCore makes the kernel kill the worker when the core dies
	// (Linux only), instead of leaving it to be adopted.
	DieWithCore bool
}

// namePattern is a worker name's characters; its length is checked apart
// (maxName): a counted repetition compiles to a program 64 times the size,
// built at every start of every process that imports the package.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

const maxName = 64

// Defaults.
const (
	defaultInitialBackoff = 100 * time.Millisecond
	defaultMaxBackoff     = 30 * time.Second
	defaultMultiplier     = 2
	defaultJitter         = 0.2
	defaultMaxFailures    = 5
	defaultDecay          = time.Minute
	defaultStableAfter    = 10 * time.Second
	defaultStopTimeout    = 10 * time.Second
	defaultHealthInterval = 5 * time.Second
	defaultHealthTimeout  = 2 * time.Second
	defaultMaxMissed      = 3
)

// withDefaults returns the spec with defaults filled in, or an error that
// names the first invalid field.
func (s Spec) withDefaults() (Spec, error) {
	if len(s.Name) > maxName || !namePattern.MatchString(s.Name) {
		return Spec{}, s.bad("Name", "%q is not 1 to 64 letters, digits, '.', '_' or '-'", s.Name)
	}
	if s.Path == "" {
		return Spec{}, s.bad("Path", "empty")
	}
	for _, fill := range []func() error{s.policyDefaults, s.restartDefaults, s.durationDefaults, s.countDefaults} {
		if err := fill(); err != nil {
			return Spec{}, err
		}
	}
	out, err := s.Output.withDefaults(&s)
	if err != nil {
		return Spec{}, err
	}
	s.Output = out
	s.Args = append([]string(nil), s.Args...)
	s.Env = append([]string(nil), s.Env...)
	s.PermanentExitCodes = append([]int(nil), s.PermanentExitCodes...)
	return s, nil
}

// oneOf sets *v to def if it is empty, or checks that it is one of
// allowed; kind names what *v is in the error.
func oneOf[T ~string](s *Spec, field, kind string, v *T, def T, allowed ...T) error {
	if *v == "" {
		*v = def
		return nil
	}
	if slices.Contains(allowed, *v) {
		return nil
	}
	want := make([]string, len(allowed))
	for i, a := range allowed {
		want[i] = string(a)
	}
	last := len(want) - 1
	return s.bad(field, "unknown %s %q (want %s or %s)", kind, *v, strings.Join(want[:last], ", "), want[last])
}

// policyDefaults fills in and checks the named policies and the protocol.
func (s *Spec) policyDefaults() error {
	for _, err := range []error{
		oneOf(s, "Restart", "policy", &s.Restart, RestartAlways, RestartAlways, RestartOnFailure, RestartNever),
		oneOf(s, "Protocol", "protocol", &s.Protocol, ProtocolPlain, ProtocolPlain, ProtocolWorkerproto, ProtocolProbe),
		oneOf(s, "Orphans", "policy", &s.Orphans, OrphanAdopt, OrphanAdopt, OrphanStop),
	} {
		if err != nil {
			return err
		}
	}
	switch {
	case s.Protocol == ProtocolProbe && s.Probe == nil:
		return s.bad("Probe", "missing: protocol probe needs a Prober")
	case s.Probe != nil && s.Protocol != ProtocolProbe:
		return s.bad("Probe", "set, but the protocol is %s, not probe", s.Protocol)
	case s.DieWithCore && runtime.GOOS != "linux":
		return s.bad("DieWithCore", "supported on Linux only")
	}
	return nil
}

// durationDefaults fills in the durations whose zero means the default.
func (s *Spec) durationDefaults() error {
	for _, d := range []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{
		{"Intensity.Decay", &s.Intensity.Decay, defaultDecay},
		{"StableAfter", &s.StableAfter, defaultStableAfter},
		{"StopTimeout", &s.StopTimeout, defaultStopTimeout},
		{"HealthInterval", &s.HealthInterval, defaultHealthInterval},
		{"HealthTimeout", &s.HealthTimeout, defaultHealthTimeout},
	} {
		if *d.v < 0 {
			return s.bad(d.field, "negative (%v)", *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	s.HealthTimeout = min(s.HealthTimeout, s.HealthInterval)
	return nil
}

// countDefaults fills in and checks the counts.
func (s *Spec) countDefaults() error {
	if s.Intensity.MaxFailures == 0 {
		s.Intensity.MaxFailures = defaultMaxFailures
	}
	switch {
	case s.MaxMissedPings == 0:
		s.MaxMissedPings = defaultMaxMissed
	case s.MaxMissedPings < 0:
		return s.bad("MaxMissedPings", "negative (%d)", s.MaxMissedPings)
	}
	for _, c := range s.PermanentExitCodes {
		if c < 0 || c > 255 {
			return s.bad("PermanentExitCodes", "%d is not an exit status (0–255)", c)
		}
	}
	return nil
}

// restartDefaults fills in the defaults of Backoff and StartLimit.
func (s *Spec) restartDefaults() error {
	b := &s.Backoff
	switch {
	case b.Initial == 0:
		b.Initial = defaultInitialBackoff
	case b.Initial < 0:
		b.Initial = 0
	}
	if b.Max == 0 {
		b.Max = defaultMaxBackoff
	}
	if b.Max < 0 {
		return s.bad("Backoff.Max", "negative (%v)", b.Max)
	}
	b.Max = max(b.Max, b.Initial)
	switch {
	case b.Multiplier == 0:
		b.Multiplier = defaultMultiplier
	case b.Multiplier < 1:
		return s.bad("Backoff.Multiplier", "%v is less than 1", b.Multiplier)
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = defaultJitter
	case b.Jitter < 0:
		b.Jitter = 0
	case b.Jitter > 1:
		return s.bad("Backoff.Jitter", "%v is more than 1", b.Jitter)
	}
	switch {
	case s.StartLimit.Burst < 0:
		return s.bad("StartLimit.Burst", "negative (%d)", s.StartLimit.Burst)
	case s.StartLimit.Interval < 0:
		return s.bad("StartLimit.Interval", "negative (%v)", s.StartLimit.Interval)
	case s.StartLimit.Burst > 0 && s.StartLimit.Interval == 0:
		s.StartLimit.Interval = 10 * time.Second
	}
	return nil
}

// bad returns an error that names the spec and the field.
func (s *Spec) bad(field, format string, args ...any) error {
	return fmt.Errorf("supervisor: spec %q: %s: %s", s.Name, field, fmt.Sprintf(format, args...))
}

// ErrUnknownWorker is returned for a worker name the supervisor does not have.
var ErrUnknownWorker = errors.New("supervisor: unknown worker")
