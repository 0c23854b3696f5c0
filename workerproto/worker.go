package workerproto

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultReconnectGrace is how long a worker keeps running without its core
// unless configured otherwise: long enough for a core to restart after an
// update or a crash.
const DefaultReconnectGrace = 2 * time.Minute

var (
	// ErrNotSupervised is returned by Worker.Serve when the environment
	// does not say where the core is: the program was started by hand.
	ErrNotSupervised = errors.New("workerproto: not started by a core")
	// ErrNotServing is returned by the Worker methods that need Serve to be
	// running.
	ErrNotServing = errors.New("workerproto: the worker is not serving")
	// ErrTerminated matches (errors.Is) the cause of the context Serve
	// gives the worker's code when the core asks the worker to stop; the
	// cause is a *TerminateError with the core's deadline.
	ErrTerminated = errors.New("workerproto: the core asked the worker to terminate")
	// ErrCoreLost is the cause of that context when the connection to the
	// core stayed lost for longer than the reconnect grace.
	ErrCoreLost = errors.New("workerproto: lost the core")
)

// A TerminateError is the context cause when the core asks a worker to stop.
type TerminateError struct {
	// Deadline is when the core will kill the worker if it still runs.
	Deadline time.Time
}

func (e *TerminateError) Error() string {
	return "workerproto: the core asked the worker to terminate by " + e.Deadline.Format(time.RFC3339Nano)
}

// Is makes a *TerminateError match ErrTerminated.
func (e *TerminateError) Is(target error) bool { return target == ErrTerminated }

// A RefusedError is the core's refusal of a worker's hello.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "workerproto: the core refused the worker: " + e.Reason }

// A Worker is the worker's end of the protocol. Set its fields, then call
// Serve with the worker's own code; the zero value of each field but Name
// means its default. While Serve runs, the other methods may be called from
// any goroutine.
type Worker struct {
	// Name is the worker's name, reported to the core; required.
	Name string
	// Version is the worker's version, reported to the core.
	Version string
	// Socket is the core's socket; default $SSMKIT_WORKER_SOCKET.
	Socket string
	// Secret is the worker's credential; default $SSMKIT_WORKER_SECRET.
	Secret Secret
	// ReconnectGrace is how long the worker keeps running while it redials a
	// core that went away; then the context of its code is cancelled with
	// cause ErrCoreLost. Default 2 minutes.
	ReconnectGrace time.Duration
	// HandshakeTimeout bounds each connection attempt. Default 5 s.
	HandshakeTimeout time.Duration
	// MaxFrameSize is the largest message accepted, in bytes. Default 1 MiB.
	MaxFrameSize int
	// OnConnection, if set, is told when the connection to the core is lost
	// (with the reason) and when it is made again (with nil). It must not
	// block.
	OnConnection func(err error)

	mu     sync.Mutex
	s      *session // the running Serve's state
	health Health
	detail string
}

// ErrServing is returned by Serve while another Serve of the same Worker
// runs.
var ErrServing = errors.New("Serve is already running")

// Serve connects to the core, runs serve with a context that is cancelled
// when the core asks the worker to terminate (cause: a *TerminateError) or
// stays unreachable for longer than the reconnect grace (cause:
// ErrCoreLost), and returns serve's error once serve has returned.
//
// While serve runs, Serve answers the core's pings by itself and redials a
// core that went away, with backoff, so that a restarted core takes the
// worker over. When the worker was not started by a core, Serve returns an
// error wrapping ErrNotSupervised at once. Serve reads the secret from the
// environment and then removes it from there, so that the worker's own
// children do not inherit it.
func (w *Worker) Serve(ctx context.Context, serve func(ctx context.Context) error) error {
	s, err := w.newSession()
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.s != nil {
		w.mu.Unlock()
		return fmt.Errorf("workerproto: %w", ErrServing)
	}
	w.s = s
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.s = nil
		w.mu.Unlock()
	}()

	conn, err := s.dialUntil(ctx, time.Now().Add(s.handshakeTimeout), true)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	s.cancel = cancel
	s.setConn(conn)
	go s.run(sctx, conn)

	err = serve(sctx)
	cancel(ErrClosed)
	s.shutdown()
	return err
}

// Ready tells the core that the worker has finished starting. Call it once
// the worker can do its work; after a reconnect the core learns it from the
// hello.
func (w *Worker) Ready() error {
	s := w.session()
	if s == nil {
		return ErrNotServing
	}
	s.mu.Lock()
	s.ready = true
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		conn.snd.send(&message{Type: typeReady}) // on failure the next hello says it
	}
	return nil
}

// SetHealth sets what the worker answers to pings from now on; detail is cut
// to 256 bytes. The default is HealthOK with no detail.
func (w *Worker) SetHealth(h Health, detail string) {
	if len(detail) > maxDetail {
		detail = detail[:maxDetail]
		for !utf8.ValidString(detail) {
			detail = detail[:len(detail)-1]
		}
	}
	w.mu.Lock()
	w.health, w.detail = h, detail
	w.mu.Unlock()
}

func (w *Worker) currentHealth() (Health, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.health == "" {
		return HealthOK, w.detail
	}
	return w.health, w.detail
}

func (w *Worker) session() *session {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.s
}

// Event sends a telemetry event to the core and waits until the core has
// accepted it. An event whose acknowledgement is lost with the connection is
// sent again after the reconnect, with the same ID. An empty ID is set to a
// unique one and a zero Time to now. The error says why the core refused
// the event, or that ctx ended first, or that the worker stopped serving.
func (w *Worker) Event(ctx context.Context, e Event) error {
	s := w.session()
	if s == nil {
		return ErrNotServing
	}
	if err := e.validate(); err != nil {
		return fmt.Errorf("workerproto: event: %w", err)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	return s.sendEvent(ctx, &e)
}

// newSession resolves the configuration of one Serve.
func (w *Worker) newSession() (*session, error) {
	if w.Name == "" {
		return nil, errors.New("workerproto: Worker.Name is empty")
	}
	s := &session{
		w:                w,
		socket:           w.Socket,
		secret:           w.Secret,
		grace:            w.ReconnectGrace,
		handshakeTimeout: w.HandshakeTimeout,
		max:              w.MaxFrameSize,
		pending:          make(map[uint64]*pendingEvent),
		stopped:          make(chan struct{}),
	}
	switch {
	case s.grace < 0:
		return nil, fmt.Errorf("workerproto: Worker.ReconnectGrace is negative (%v)", s.grace)
	case s.handshakeTimeout < 0:
		return nil, fmt.Errorf("workerproto: Worker.HandshakeTimeout is negative (%v)", s.handshakeTimeout)
	case s.max < 0:
		return nil, fmt.Errorf("workerproto: Worker.MaxFrameSize is negative (%d)", s.max)
	}
	if s.grace == 0 {
		s.grace = DefaultReconnectGrace
	}
	if s.handshakeTimeout == 0 {
		s.handshakeTimeout = DefaultHandshakeTimeout
	}
	if s.max == 0 {
		s.max = DefaultMaxFrameSize
	}
	if s.socket == "" {
		s.socket = os.Getenv(EnvSocket)
		if s.socket == "" {
			return nil, fmt.Errorf("%w: $%s is not set; a worker is started by its core, which sets it", ErrNotSupervised, EnvSocket)
		}
	}
	if s.secret.IsZero() {
		text, ok := os.LookupEnv(EnvSecret)
		if !ok {
			return nil, fmt.Errorf("%w: $%s is not set; a worker is started by its core, which sets it", ErrNotSupervised, EnvSecret)
		}
		secret, err := ParseSecret(text)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", EnvSecret, err)
		}
		os.Unsetenv(EnvSecret)
		s.secret = secret
	}
	var prefix [8]byte
	rand.Read(prefix[:])
	s.idPrefix = hex.EncodeToString(prefix[:]) + "-"
	return s, nil
}
