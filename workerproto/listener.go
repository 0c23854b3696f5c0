package workerproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ssmkit/ssmkit/internal/peercred"
	"github.com/ssmkit/ssmkit/internal/unixsock"
)

// Defaults of ListenConfig.
const (
	DefaultHandshakeTimeout        = 5 * time.Second
	DefaultUnknownHandshakeTimeout = time.Second
	DefaultHealthInterval          = 10 * time.Second
)

// maxHandshakes bounds the connections in their handshake at once, in each
// of two pools: connections whose peer is a process the core authorized
// (by pid), and all others. More are closed at once, so that a flood of
// idle connections can exhaust neither the core's descriptors nor the
// room of the workers it expects. One process has at most
// maxHandshakesPerPID places in the first pool; its other connections go
// to the second.
const (
	maxHandshakes       = 64
	maxHandshakesPerPID = 4
)

// ErrClosed is returned by operations on a closed Listener, Conn or Worker.
var ErrClosed = errors.New("workerproto: closed")

// ListenConfig configures the core's end. The zero value is ready to use.
type ListenConfig struct {
	// HandshakeTimeout bounds the time from connect to a valid hello for a
	// connection whose peer is a process the core authorized (or, while an
	// authorization waits for its pid, a child of the core); a connection
	// that takes longer is closed. Default 5 s.
	HandshakeTimeout time.Duration
	// UnknownHandshakeTimeout bounds the handshake of a connection from
	// any other process: such connections wait in a pool of their own,
	// with this shorter timeout, and are refused at once when it is full,
	// so that a flood of them never keeps a worker out. Default 1 s.
	UnknownHandshakeTimeout time.Duration
	// MaxFrameSize is the largest message accepted, in bytes; larger ones end
	// the connection. Default 1 MiB.
	MaxFrameSize int
	// HealthInterval is announced to workers in the welcome: how often the
	// core means to ping them. A worker that hears nothing for three
	// intervals takes the core for gone and redials. Default 10 s.
	HealthInterval time.Duration
	// OnEvent receives the events workers send. It runs in one goroutine per
	// connection, so calls for one connection are in order and calls for
	// different connections are concurrent. A nil return acknowledges the
	// event; an error refuses it and the worker's Event call returns it.
	// Nil means events are acknowledged and dropped. A slow OnEvent delays
	// the acknowledgements of that worker's events and, once 256 events are
	// waiting, the reading of its pongs.
	OnEvent func(c *Conn, e Event) error
	// OnReject is told about each connection refused before or during its
	// handshake, and why. Its error never contains a secret. Nil means
	// such connections are closed silently.
	OnReject func(err error)
}

func (cfg *ListenConfig) setDefaults() error {
	switch {
	case cfg.HandshakeTimeout < 0:
		return fmt.Errorf("workerproto: ListenConfig.HandshakeTimeout is negative (%v)", cfg.HandshakeTimeout)
	case cfg.MaxFrameSize < 0:
		return fmt.Errorf("workerproto: ListenConfig.MaxFrameSize is negative (%d)", cfg.MaxFrameSize)
	case cfg.UnknownHandshakeTimeout < 0:
		return fmt.Errorf("workerproto: ListenConfig.UnknownHandshakeTimeout is negative (%v)", cfg.UnknownHandshakeTimeout)
	case cfg.HealthInterval < 0:
		return fmt.Errorf("workerproto: ListenConfig.HealthInterval is negative (%v)", cfg.HealthInterval)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.UnknownHandshakeTimeout == 0 {
		cfg.UnknownHandshakeTimeout = DefaultUnknownHandshakeTimeout
	}
	if cfg.MaxFrameSize == 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	return nil
}

// A Listener is the core's end of the protocol: a Unix socket that the
// workers the core starts connect to. It is safe for concurrent use.
type Listener struct {
	cfg  ListenConfig
	path string
	ln   *net.UnixListener

	mu      sync.Mutex
	secrets map[[32]byte]*authorized // secret fingerprint → worker
	ids     map[string][32]byte      // worker id → secret fingerprint
	pids    map[int]int              // authorized pid → how many ids have it
	pending int                      // authorizations waiting for their pid
	inHand  map[int]int              // pid → its handshakes in the known pool

	start     sync.Once
	accepted  chan *Conn    // authenticated connections for Accept
	closing   chan struct{} // closed by Close
	closed    sync.Once
	slots     chan struct{} // one per handshake in progress from a known peer
	unknown   chan struct{} // one per handshake in progress from another peer
	wg        sync.WaitGroup
	acceptErr error // why the accept loop ended, if not Close; guarded by mu
}

// authorized is a worker allowed to connect.
type authorized struct {
	id     string
	secret Secret
	pid    int           // the process the secret was issued to; 0 until known
	bound  chan struct{} // closed once pid is known, or the entry is gone
}

// Listen creates the core's socket at path. The directory of path is created
// with mode 0700 if it does not exist; if it exists, it must be a directory
// (not a symlink) of this process's user or root, closed to other users. A
// socket file left by a core that is gone is replaced (after a 100 ms probe
// dial fails); one on which a core still listens is an error, and so is
// anything else at path, or a path longer than the 103 bytes every
// platform's sockets allow. The socket file gets mode 0600, whatever the
// umask.
//
// Listen starts nothing: connections are accepted by Accept.
func Listen(path string, cfg ListenConfig) (*Listener, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ln, err := unixsock.Listen(path, unixsock.Config{})
	if err != nil {
		return nil, fmt.Errorf("workerproto: listen: %w", err)
	}
	return &Listener{
		cfg:      cfg,
		path:     path,
		ln:       ln,
		secrets:  make(map[[32]byte]*authorized),
		ids:      make(map[string][32]byte),
		pids:     make(map[int]int),
		inHand:   make(map[int]int),
		accepted: make(chan *Conn),
		closing:  make(chan struct{}),
		slots:    make(chan struct{}, maxHandshakes),
		unknown:  make(chan struct{}, maxHandshakes),
	}, nil
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Authorize lets the process pid, presenting secret, connect as the
// worker named id; Conn.Peer reports the id. Identity comes before trust:
// a connection is welcomed only if the kernel says its peer is pid
// (SO_PEERCRED on Linux; elsewhere the hello's word is taken), so a
// process that read the secret from another's environment is refused
// before the welcome.
//
// A core that gives the secret to a process it is about to start does not
// know the pid yet: it authorizes with pid 0 before the fork and calls
// SetPID after it. Until then, a connection that presents the secret waits
// in its handshake (within the handshake timeout) and is then checked.
//
// An id has one secret at a time: authorizing it again replaces the
// previous one. Connections already made are not affected.
func (l *Listener) Authorize(id string, secret Secret, pid int) error {
	if secret.IsZero() {
		return fmt.Errorf("workerproto: authorize %q: zero secret", id)
	}
	if pid < 0 {
		return fmt.Errorf("workerproto: authorize %q: negative pid %d", id, pid)
	}
	fp := secret.fingerprint()
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.secrets[fp]; ok && old.id != id {
		return fmt.Errorf("workerproto: authorize %q: the secret is already authorized for %q", id, old.id)
	}
	l.revokeLocked(id)
	a := &authorized{id: id, secret: secret, bound: make(chan struct{})}
	l.secrets[fp] = a
	l.ids[id] = fp
	l.pending++
	if pid > 0 {
		l.bindLocked(a, pid)
	}
	return nil
}

// SetPID tells the listener the process that the secret of id was issued
// to, once it is started. It may be called once per Authorize.
func (l *Listener) SetPID(id string, pid int) error {
	if pid <= 0 {
		return fmt.Errorf("workerproto: set pid of %q: %d is not a pid", id, pid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fp, ok := l.ids[id]
	if !ok {
		return fmt.Errorf("workerproto: set pid of %q: not authorized", id)
	}
	a := l.secrets[fp]
	if a.pid != 0 {
		return fmt.Errorf("workerproto: set pid of %q: already pid %d", id, a.pid)
	}
	l.bindLocked(a, pid)
	return nil
}

// bindLocked records a's pid; l.mu is held.
func (l *Listener) bindLocked(a *authorized, pid int) {
	a.pid = pid
	l.pids[pid]++
	l.pending--
	close(a.bound)
}

// Revoke stops the worker id from connecting. Connections already made are
// not affected.
func (l *Listener) Revoke(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revokeLocked(id)
}

func (l *Listener) revokeLocked(id string) {
	fp, ok := l.ids[id]
	if !ok {
		return
	}
	a := l.secrets[fp]
	delete(l.secrets, fp)
	delete(l.ids, id)
	if a.pid == 0 {
		l.pending--
		close(a.bound)
		return
	}
	if l.pids[a.pid]--; l.pids[a.pid] <= 0 {
		delete(l.pids, a.pid)
	}
}

// lookup returns the authorization for secret. It finds the candidate by
// the secret's SHA-256 and then compares the secrets in constant time.
func (l *Listener) lookup(secret Secret) (*authorized, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.secrets[secret.fingerprint()]
	if !ok || !a.secret.Equal(secret) {
		return nil, false
	}
	return a, true
}

// expected reports whether a connection from pid may be a worker's: pid
// was authorized, or an authorization waits for its pid and pid is a child
// of this process (just started), or the platform does not tell the peer's
// pid. Each call that returns true takes one of pid's places in the known
// pool, which done gives back; a pid that has all of them is not expected.
func (l *Listener) expected(pid int) (ok bool, done func()) {
	if pid <= 0 {
		return true, func() {}
	}
	l.mu.Lock()
	known, pending := l.pids[pid] > 0, l.pending > 0
	full := l.inHand[pid] >= maxHandshakesPerPID
	l.mu.Unlock()
	if full || !known && !(pending && peercred.IsChild(pid)) {
		return false, nil
	}
	l.mu.Lock()
	l.inHand[pid]++
	l.mu.Unlock()
	return true, func() {
		l.mu.Lock()
		if l.inHand[pid]--; l.inHand[pid] <= 0 {
			delete(l.inHand, pid)
		}
		l.mu.Unlock()
	}
}

// Accept waits for the next worker to connect and complete its handshake,
// and returns its connection. Handshakes run concurrently, each bounded by
// the handshake timeout, so a slow or hostile peer delays no one else.
// Accept returns ctx's error when ctx ends, and ErrClosed after Close.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	l.start.Do(func() {
		l.wg.Add(1)
		go l.acceptLoop()
	})
	select {
	case c := <-l.accepted:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.closing:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.acceptErr != nil {
			return nil, l.acceptErr
		}
		return nil, ErrClosed
	}
}

// Close stops accepting, closes the connections still in their handshake,
// removes the socket file and waits for its goroutines. Connections that
// Accept returned stay open.
func (l *Listener) Close() error {
	var err error
	l.closed.Do(func() {
		close(l.closing)
		err = l.ln.Close()
	})
	l.wg.Wait()
	return err
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	delay := time.Duration(0)
	for {
		nc, err := l.ln.AcceptUnix()
		if err != nil {
			select {
			case <-l.closing:
				return
			default:
			}
			// Out of descriptors and the like: wait a little, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.reject(fmt.Errorf("workerproto: accept: %w", err))
			select {
			case <-time.After(delay):
				continue
			case <-l.closing:
				return
			}
		}
		delay = 0
		l.dispatch(nc)
	}
}

// dispatch starts the handshake of nc in the pool of its peer: a process
// the core expects, or any other, whose pool has a shorter timeout and is
// the one that refuses connections when full.
func (l *Listener) dispatch(nc *net.UnixConn) {
	pid, _, err := peercred.Of(nc)
	slots, timeout, release := l.slots, l.cfg.HandshakeTimeout, func() {}
	if ok, done := l.expected(pid); err == nil && ok {
		release = done
	} else {
		if ok {
			done()
		}
		slots, timeout = l.unknown, l.cfg.UnknownHandshakeTimeout
	}
	select {
	case slots <- struct{}{}:
	default:
		release()
		nc.Close()
		l.reject(fmt.Errorf("workerproto: refused a connection from pid %d: %d handshakes already in progress", pid, maxHandshakes))
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() { <-slots; release() }()
		l.serveHandshake(nc, timeout)
	}()
}

// reject reports a refused connection to the OnReject hook.
func (l *Listener) reject(err error) {
	if l.cfg.OnReject != nil {
		l.cfg.OnReject(err)
	}
}

// serveHandshake authenticates nc and hands the connection to Accept.
func (l *Listener) serveHandshake(nc *net.UnixConn, timeout time.Duration) {
	c, err := l.handshake(nc, timeout)
	if err != nil {
		nc.Close()
		l.reject(err)
		return
	}
	select {
	case l.accepted <- c:
	case <-l.closing:
		c.Close()
	}
}
