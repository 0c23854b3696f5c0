package workerproto

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Defaults of ListenConfig.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultHealthInterval   = 10 * time.Second
)

// maxHandshakes bounds the connections in their handshake at once; more are
// closed at once, so that a flood of idle connections cannot exhaust the
// core's descriptors.
const maxHandshakes = 64

// ErrClosed is returned by operations on a closed Listener, Conn or Worker.
var ErrClosed = errors.New("workerproto: closed")

// ListenConfig configures the core's end. The zero value is ready to use.
type ListenConfig struct {
	// HandshakeTimeout bounds the time from connect to a valid hello; a
	// connection that takes longer is closed. Default 5 s.
	HandshakeTimeout time.Duration
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
	case cfg.HealthInterval < 0:
		return fmt.Errorf("workerproto: ListenConfig.HealthInterval is negative (%v)", cfg.HealthInterval)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
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
	secrets map[[32]byte]authorized // secret fingerprint → worker
	ids     map[string][32]byte     // worker id → secret fingerprint

	start     sync.Once
	accepted  chan *Conn    // authenticated connections for Accept
	closing   chan struct{} // closed by Close
	closed    sync.Once
	slots     chan struct{} // one per handshake in progress
	wg        sync.WaitGroup
	acceptErr error // why the accept loop ended, if not Close; guarded by mu
}

// authorized is a worker allowed to connect.
type authorized struct {
	id     string
	secret Secret
}

// Listen creates the core's socket at path. The directory of path is created
// with mode 0700 if it does not exist; if it exists, it must not be open to
// other users. A socket file left by a core that is gone is replaced; one on
// which a core still listens is an error. The socket file gets mode 0600.
//
// Listen starts nothing: connections are accepted by Accept.
func Listen(path string, cfg ListenConfig) (*Listener, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	if err := prepareDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("workerproto: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil && runtime.GOOS != "windows" {
		ln.Close()
		return nil, fmt.Errorf("workerproto: listen: %w", err)
	}
	return &Listener{
		cfg:      cfg,
		path:     path,
		ln:       ln,
		secrets:  make(map[[32]byte]authorized),
		ids:      make(map[string][32]byte),
		accepted: make(chan *Conn),
		closing:  make(chan struct{}),
		slots:    make(chan struct{}, maxHandshakes),
	}, nil
}

// maxSocketPath is the longest socket path the platforms accept (sun_path
// less its terminating zero; 104 bytes on macOS, 108 on Linux and Windows).
const maxSocketPath = 103

func checkSocketPath(path string) error {
	if path == "" {
		return errors.New("workerproto: listen: empty socket path")
	}
	if len(path) > maxSocketPath {
		return fmt.Errorf("workerproto: listen: socket path %s is %d bytes long; Unix sockets allow at most %d", path, len(path), maxSocketPath)
	}
	return nil
}

// prepareDir creates dir with mode 0700, or checks that an existing dir is
// a directory closed to other users.
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("workerproto: listen: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("workerproto: listen: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("workerproto: listen: %s is not a directory", dir)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("workerproto: listen: directory %s has mode %#o; the socket's directory must be closed to other users (0700)", dir, fi.Mode().Perm())
	}
	return nil
}

// removeStaleSocket removes a socket file at path that nobody listens on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("workerproto: listen: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket && runtime.GOOS != "windows" {
		return fmt.Errorf("workerproto: listen: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, 100*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("workerproto: listen: another process listens on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("workerproto: listen: remove stale socket: %w", err)
	}
	return nil
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Authorize lets the worker that presents secret connect, as the worker
// named id; Conn.Peer reports the id. An id has one secret at a time:
// authorizing it again replaces the previous one. Connections already made
// are not affected.
func (l *Listener) Authorize(id string, secret Secret) error {
	if secret.IsZero() {
		return fmt.Errorf("workerproto: authorize %q: zero secret", id)
	}
	fp := secret.fingerprint()
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.secrets[fp]; ok && old.id != id {
		return fmt.Errorf("workerproto: authorize %q: the secret is already authorized for %q", id, old.id)
	}
	if old, ok := l.ids[id]; ok {
		delete(l.secrets, old)
	}
	l.secrets[fp] = authorized{id, secret}
	l.ids[id] = fp
	return nil
}

// Revoke stops the worker id from connecting. Connections already made are
// not affected.
func (l *Listener) Revoke(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if fp, ok := l.ids[id]; ok {
		delete(l.secrets, fp)
		delete(l.ids, id)
	}
}

// lookup returns the id authorized for secret. It finds the candidate by
// the secret's SHA-256 and then compares the secrets in constant time.
func (l *Listener) lookup(secret Secret) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.secrets[secret.fingerprint()]
	if !ok || !a.secret.Equal(secret) {
		return "", false
	}
	return a.id, true
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
		select {
		case l.slots <- struct{}{}:
		default:
			nc.Close()
			l.reject(fmt.Errorf("workerproto: refused a connection: %d handshakes already in progress", maxHandshakes))
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-l.slots }()
			l.serveHandshake(nc)
		}()
	}
}

// reject reports a refused connection to the OnReject hook.
func (l *Listener) reject(err error) {
	if l.cfg.OnReject != nil {
		l.cfg.OnReject(err)
	}
}

// serveHandshake authenticates nc and hands the connection to Accept.
func (l *Listener) serveHandshake(nc *net.UnixConn) {
	c, err := l.handshake(nc)
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
