package workerproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ssmkit/ssmkit/internal/retry"
)

// session is the state of one Worker.Serve.
type session struct {
	w                *Worker
	socket           string
	secret           Secret
	grace            time.Duration
	handshakeTimeout time.Duration
	max              int
	idPrefix         string
	cancel           context.CancelCauseFunc
	stopped          chan struct{} // closed when run has returned

	mu             sync.Mutex
	conn           *workerConn // nil while disconnected
	ready          bool
	pending        map[uint64]*pendingEvent
	nextID         uint64
	healthInterval time.Duration
	cause          error // why run stopped
}

// workerConn is one connection from a worker to its core.
type workerConn struct {
	nc  net.Conn
	fr  *frameReader
	snd *sender
}

// pendingEvent is an event waiting for its acknowledgement.
type pendingEvent struct {
	frame []byte
	done  chan error
}

// dialUntil connects to the core and completes the handshake, retrying with
// backoff until deadline. With firstTime set, only a failure to connect is
// retried (the core may not listen yet) and a refusal or a protocol error
// ends the attempts at once; on a reconnect everything is retried, as a
// restarted core may not know the worker's secret yet.
func (s *session) dialUntil(ctx context.Context, deadline time.Time, firstTime bool) (*workerConn, error) {
	bo := retry.New(10*time.Millisecond, time.Second)
	for {
		timeout := min(s.handshakeTimeout, time.Until(deadline))
		conn, err := s.dial(ctx, timeout)
		if err == nil {
			return conn, nil
		}
		var refused *RefusedError
		if firstTime && (errors.As(err, &refused) || errors.Is(err, ErrProtocol)) {
			return nil, err
		}
		wait := bo.Next()
		if time.Until(deadline) < wait {
			return nil, fmt.Errorf("workerproto: cannot reach the core at %s: %w", s.socket, err)
		}
		if !retry.Sleep(ctx, wait) {
			return nil, context.Cause(ctx)
		}
	}
}

// dial makes one connection attempt and handshake.
func (s *session) dial(ctx context.Context, timeout time.Duration) (*workerConn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "unix", s.socket)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(timeout))
	conn := &workerConn{nc: nc, fr: newFrameReader(nc, s.max), snd: newSender(nc, s.max)}
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	hello := &message{
		Type:      typeHello,
		Name:      s.w.Name,
		Version:   s.w.Version,
		PID:       os.Getpid(),
		Protocols: supportedVersions,
		Secret:    s.secret.Encode(),
		Ready:     ready,
	}
	if err := conn.snd.send(hello); err != nil {
		nc.Close()
		return nil, fmt.Errorf("sending hello: %w", err)
	}
	welcome, err := s.readWelcome(conn)
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	s.mu.Lock()
	s.healthInterval = time.Duration(welcome.HealthIntervalMS) * time.Millisecond
	s.mu.Unlock()
	return conn, nil
}

func (s *session) readWelcome(conn *workerConn) (*message, error) {
	payload, err := conn.fr.next()
	if err != nil {
		return nil, fmt.Errorf("reading welcome: %w", err)
	}
	m, err := decode(payload)
	if err != nil {
		return nil, err
	}
	switch m.Type {
	case typeWelcome:
		if !slices.Contains(supportedVersions, m.Protocol) {
			return nil, protocolErrorf("the core chose protocol version %d, which the worker does not speak", m.Protocol)
		}
		if m.HealthIntervalMS < 0 {
			return nil, protocolErrorf("negative health interval %d ms", m.HealthIntervalMS)
		}
		return m, nil
	case typeRefused:
		return nil, &RefusedError{Reason: m.Error}
	}
	return nil, protocolErrorf("the core answered the hello with %q", m.Type)
}

// setConn makes conn the current connection and sends it the events still
// waiting for their acknowledgement.
func (s *session) setConn(conn *workerConn) {
	s.mu.Lock()
	s.conn = conn
	ids := make([]uint64, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	frames := make([][]byte, len(ids))
	for i, id := range ids {
		frames[i] = s.pending[id].frame
	}
	s.mu.Unlock()
	for _, f := range frames {
		if conn.snd.sendFrame(f) != nil {
			return // the read loop sees the broken connection
		}
	}
}

// run serves connections until ctx ends or the core stays lost.
func (s *session) run(ctx context.Context, conn *workerConn) {
	defer close(s.stopped)
	for {
		err := s.readLoop(ctx, conn)
		conn.nc.Close()
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		if ctx.Err() != nil {
			s.stop(context.Cause(ctx))
			return
		}
		s.notify(err)
		conn, err = s.dialUntil(ctx, time.Now().Add(s.grace), false)
		if err != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("%w: no connection for %v: %w", ErrCoreLost, s.grace, err)
				s.cancel(err)
			}
			s.stop(err)
			return
		}
		s.setConn(conn)
		s.notify(nil)
	}
}

func (s *session) notify(err error) {
	if s.w.OnConnection != nil {
		s.w.OnConnection(err)
	}
}

// stop records why the session stopped; pending and later events fail with it.
func (s *session) stop(cause error) {
	s.mu.Lock()
	s.cause = cause
	s.mu.Unlock()
}

// shutdown ends the session after the worker's code has returned: it closes
// the connection and waits for run.
func (s *session) shutdown() {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		conn.nc.Close()
	}
	<-s.stopped
}

// readLoop answers the core until the connection fails.
func (s *session) readLoop(ctx context.Context, conn *workerConn) error {
	s.mu.Lock()
	silence := 3 * s.healthInterval
	s.mu.Unlock()
	for {
		if silence > 0 {
			conn.nc.SetReadDeadline(time.Now().Add(silence))
		}
		payload, err := conn.fr.next()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("workerproto: no message from the core for %v (3 health intervals)", silence)
			}
			return err
		}
		m, err := decode(payload)
		if err != nil {
			return err
		}
		switch m.Type {
		case typePing:
			h, detail := s.w.currentHealth()
			err = conn.snd.send(&message{Type: typePong, ID: m.ID, Status: h, Detail: detail})
		case typeAck:
			s.resolve(m.ID, m.Error)
		case typeError:
			s.resolve(m.ID, "the core answered: "+m.Error)
		case typeTerminate:
			err = conn.snd.send(&message{Type: typeTerminating, ID: m.ID})
			te := &TerminateError{}
			if m.Deadline != nil {
				te.Deadline = *m.Deadline
			}
			s.cancel(te)
		default:
			err = conn.snd.send(&message{Type: typeError, ID: m.ID, Error: "unknown message type " + strconv.Quote(m.Type)})
		}
		if err != nil {
			return err
		}
	}
}

// resolve completes the event with id; reason is empty when it was accepted.
func (s *session) resolve(id uint64, reason string) {
	s.mu.Lock()
	p := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if p == nil {
		return
	}
	if reason != "" {
		p.done <- fmt.Errorf("workerproto: event refused: %s", reason)
		return
	}
	p.done <- nil
}

// sendEvent sends e and waits for its acknowledgement.
func (s *session) sendEvent(ctx context.Context, e *Event) error {
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	if e.ID == "" {
		e.ID = s.idPrefix + strconv.FormatUint(id, 10)
	}
	frame, err := encode(nil, &message{Type: typeEvent, ID: id, Event: e})
	if err != nil {
		return err
	}
	if n := len(frame) - frameHeaderSize; n > s.max {
		return fmt.Errorf("workerproto: event: %w: %d bytes, the limit is %d", ErrFrameTooLarge, n, s.max)
	}
	p := &pendingEvent{frame: frame, done: make(chan error, 1)}
	s.mu.Lock()
	if s.cause != nil {
		s.mu.Unlock()
		return fmt.Errorf("workerproto: event: %w", s.cause)
	}
	s.pending[id] = p
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		conn.snd.sendFrame(frame) // on failure it is sent again after the reconnect
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
	case <-s.stopped:
	}
	s.mu.Lock()
	delete(s.pending, id)
	cause := s.cause
	s.mu.Unlock()
	select {
	case err := <-p.done: // the acknowledgement won the race
		return err
	default:
	}
	if ctx.Err() != nil {
		return fmt.Errorf("workerproto: event: %w", ctx.Err())
	}
	return fmt.Errorf("workerproto: event: %w", cause)
}
