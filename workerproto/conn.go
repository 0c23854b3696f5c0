package workerproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssmkit/ssmkit/internal/peercred"
)

// A Peer describes the worker at the other end of a Conn.
type Peer struct {
	// ID is the id under which the core authorized the worker's secret.
	ID string
	// Name and Version are what the worker says it is.
	Name, Version string
	// PID is the worker's process id. On Linux it comes from the socket
	// (SO_PEERCRED) and the hello must agree with it.
	PID int
	// UID is the worker's user id from the socket, or -1 where the platform
	// does not tell.
	UID int
	// Protocol is the protocol version chosen in the handshake.
	Protocol int
}

// A Pong is a worker's answer to a ping.
type Pong struct {
	Health Health
	Detail string
	// RTT is the time from sending the ping to reading the pong.
	RTT time.Duration
}

// A Conn is the core's end of one authenticated connection to a worker. It
// is safe for concurrent use; every blocking method takes a context.
type Conn struct {
	peer    Peer
	nc      net.Conn
	fr      *frameReader
	snd     *sender
	onEvent func(*Conn, Event) error

	nextID  atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan *message // pings and terminates waiting for a reply

	ready     chan struct{}
	readyOnce sync.Once
	readyAt   atomic.Int64 // unix nanoseconds

	events chan *message // events for the event goroutine

	done     chan struct{}
	doneOnce sync.Once
	err      error // why the connection ended; set before done is closed
	wg       sync.WaitGroup
}

// handshake reads and checks the hello on nc, answers it, and returns the
// running connection.
func (l *Listener) handshake(nc *net.UnixConn, timeout time.Duration) (*Conn, error) {
	deadline := time.Now().Add(timeout)
	nc.SetDeadline(deadline)
	pid, uid, err := peercred.Of(nc)
	if err != nil {
		return nil, fmt.Errorf("workerproto: refused a connection: peer credentials: %w", err)
	}
	if uid >= 0 && uid != os.Getuid() && uid != 0 {
		return nil, fmt.Errorf("workerproto: refused a connection from pid %d: uid %d is neither this process's (%d) nor root", pid, uid, os.Getuid())
	}
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("workerproto: refused a connection from pid %d: %s", pid, fmt.Sprintf(format, args...))
	}
	fr := newFrameReader(nc, l.cfg.MaxFrameSize)
	hello, err := readHello(fr, timeout)
	if err != nil {
		return nil, refuse("%v", err)
	}
	snd := newSender(nc, l.cfg.MaxFrameSize)
	peer, reason := l.admit(hello, pid, deadline)
	if reason != "" { // answered with a reason the worker can show
		snd.send(&message{Type: typeRefused, Error: reason})
		return nil, refuse("%s", reason)
	}
	peer.UID = uid
	err = snd.send(&message{Type: typeWelcome, Protocol: peer.Protocol, HealthIntervalMS: l.cfg.HealthInterval.Milliseconds()})
	if err != nil {
		return nil, refuse("sending welcome: %v", err)
	}
	nc.SetDeadline(time.Time{})
	c := &Conn{
		peer:    peer,
		nc:      nc,
		fr:      fr,
		snd:     snd,
		onEvent: l.cfg.OnEvent,
		pending: make(map[uint64]chan *message),
		ready:   make(chan struct{}),
		events:  make(chan *message, 256),
		done:    make(chan struct{}),
	}
	if hello.Ready {
		c.markReady()
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.eventLoop()
	return c, nil
}

// readHello reads and decodes the first message of a connection.
func readHello(fr *frameReader, timeout time.Duration) (*message, error) {
	payload, err := fr.next()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no hello within %v", timeout)
		}
		return nil, fmt.Errorf("reading hello: %v", err)
	}
	return decode(payload)
}

// admit checks a hello from the socket's peer pid (0 or less: unknown)
// and returns the peer it makes, or the reason it is refused.
func (l *Listener) admit(hello *message, pid int, deadline time.Time) (Peer, string) {
	if hello.Type != typeHello {
		return Peer{}, fmt.Sprintf("first message is %q, want %q", hello.Type, typeHello)
	}
	secret, err := ParseSecret(hello.Secret)
	if err != nil {
		return Peer{}, "authentication failed: malformed secret"
	}
	a, ok := l.lookup(secret)
	if !ok {
		return Peer{}, "authentication failed: unknown secret"
	}
	if hello.Name == "" {
		return Peer{}, "hello without a worker name"
	}
	if pid > 0 && hello.PID != pid {
		return Peer{}, fmt.Sprintf("hello says pid %d, but the socket's peer is pid %d", hello.PID, pid)
	}
	if pid <= 0 {
		pid = hello.PID
	}
	id, err := l.checkPID(a, secret, pid, deadline)
	if err != nil {
		return Peer{}, err.Error()
	}
	version, err := chooseVersion(hello.Protocols)
	if err != nil {
		return Peer{}, err.Error()
	}
	return Peer{ID: id, Name: hello.Name, Version: hello.Version, PID: pid, Protocol: version}, ""
}

// checkPID waits until the pid a's secret was issued to is known, and
// checks that the peer is that process. The refusal says nothing of the
// pid expected.
func (l *Listener) checkPID(a *authorized, secret Secret, pid int, deadline time.Time) (string, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-a.bound:
	case <-timer.C:
		return "", errors.New("authentication failed: the worker's process is not known yet")
	case <-l.closing:
		return "", ErrClosed
	}
	a, ok := l.lookup(secret) // revoked or replaced meanwhile?
	if !ok || a.pid == 0 {
		return "", errors.New("authentication failed: unknown secret")
	}
	if a.pid != pid {
		return "", fmt.Errorf("authentication failed: the secret was not issued to pid %d", pid)
	}
	return a.id, nil
}

// Peer returns who the worker is.
func (c *Conn) Peer() Peer { return c.peer }

// Ready returns a channel that is closed once the worker has reported that
// it finished starting (also when it said so in its hello, after a
// reconnect).
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// ReadyAt returns when the worker's readiness was received, or the zero time.
func (c *Conn) ReadyAt() time.Time {
	if ns := c.readyAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Done returns a channel that is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up: ErrClosed
// after Close, io.EOF when the worker hung up, a protocol error otherwise.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection and waits for its goroutines.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail ends the connection with err, once.
func (c *Conn) fail(err error) {
	c.doneOnce.Do(func() {
		c.err = err
		c.nc.Close()
		close(c.done)
	})
}

// Ping asks the worker whether it is alive and answering, and returns its
// answer with the round-trip time. It waits until the pong arrives, ctx
// ends (the worker did not answer in time) or the connection ends.
func (c *Conn) Ping(ctx context.Context) (Pong, error) {
	start := time.Now()
	reply, err := c.call(ctx, &message{Type: typePing})
	if err != nil {
		return Pong{}, err
	}
	return Pong{Health: reply.Status, Detail: reply.Detail, RTT: time.Since(start)}, nil
}

// Terminate asks the worker to stop by deadline and waits until it
// acknowledges, which it does at once, before it stops. It does not wait
// for the worker to exit.
func (c *Conn) Terminate(ctx context.Context, deadline time.Time) error {
	_, err := c.call(ctx, &message{Type: typeTerminate, Deadline: &deadline})
	return err
}

// call sends m with a new id and waits for the reply with that id.
func (c *Conn) call(ctx context.Context, m *message) (*message, error) {
	m.ID = c.nextID.Add(1)
	ch := make(chan *message, 1)
	c.mu.Lock()
	c.pending[m.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, m.ID)
		c.mu.Unlock()
	}()
	if err := c.snd.send(m); err != nil {
		c.fail(err)
		return nil, fmt.Errorf("workerproto: %s %s: %w", m.Type, c.peer.ID, err)
	}
	var reply *message
	select {
	case reply = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("workerproto: %s %s: %w", m.Type, c.peer.ID, ctx.Err())
	case <-c.done:
		// The reader resolves a reply before it ends the connection: a
		// worker that answers and hangs up (as after terminate) answered.
		select {
		case reply = <-ch:
		default:
			return nil, fmt.Errorf("workerproto: %s %s: connection ended: %w", m.Type, c.peer.ID, c.err)
		}
	}
	if reply.Type == typeError {
		return nil, fmt.Errorf("workerproto: %s %s: the worker answered: %s", m.Type, c.peer.ID, reply.Error)
	}
	return reply, nil
}

// resolve hands a reply to the call waiting for it. A reply nobody waits for
// (its call timed out) is dropped.
func (c *Conn) resolve(m *message) {
	c.mu.Lock()
	ch := c.pending[m.ID]
	delete(c.pending, m.ID)
	c.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}

func (c *Conn) markReady() {
	c.readyOnce.Do(func() {
		c.readyAt.Store(time.Now().UnixNano())
		close(c.ready)
	})
}

// readLoop reads and dispatches the worker's messages until the connection
// ends.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	for {
		payload, err := c.fr.next()
		if err != nil {
			c.fail(err)
			return
		}
		m, err := decode(payload)
		if err != nil {
			c.fail(err)
			return
		}
		switch m.Type {
		case typePong, typeTerminating, typeError:
			c.resolve(m)
		case typeReady:
			c.markReady()
		case typeEvent:
			select {
			case c.events <- m:
			case <-c.done:
				return
			}
		default:
			err = c.snd.send(&message{Type: typeError, ID: m.ID, Error: fmt.Sprintf("unknown message type %q", m.Type)})
		}
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// eventLoop hands events to the OnEvent hook and acknowledges them, so that
// a slow hook does not hold up pongs. The acknowledgements of the events
// that were waiting together go out in one write.
func (c *Conn) eventLoop() {
	defer c.wg.Done()
	var acks []byte
	for {
		var m *message
		select {
		case m = <-c.events:
		case <-c.done:
			return
		}
		acks = acks[:0]
		for m != nil {
			frame, err := encode(nil, c.handleEvent(m))
			if err != nil {
				c.fail(err)
				return
			}
			acks = append(acks, frame...)
			m = nil
			select {
			case m = <-c.events:
			default:
			}
		}
		if err := c.snd.sendFrame(acks); err != nil {
			c.fail(err)
			return
		}
	}
}

// handleEvent passes one event to the hook and returns its acknowledgement.
func (c *Conn) handleEvent(m *message) *message {
	ack := &message{Type: typeAck, ID: m.ID}
	switch {
	case m.Event == nil:
		ack.Error = "event message without an event"
	case m.Event.validate() != nil:
		ack.Error = m.Event.validate().Error()
	case c.onEvent != nil:
		if err := c.onEvent(c, *m.Event); err != nil {
			ack.Error = err.Error()
		}
	}
	return ack
}
