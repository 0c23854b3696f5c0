package workerproto

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a worker process; see process_test.go.
	if mode := os.Getenv(helperEnv); mode != "" {
		if code, ok := platformHelper(mode); ok {
			os.Exit(code)
		}
		os.Exit(helperWorkerMain())
	}
	os.Exit(m.Run())
}

// testTimeout bounds every wait in these tests; none should come near it.
const testTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// socketPath returns a short socket path in a new private directory:
// t.TempDir paths can exceed the length Unix sockets allow.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "core.sock")
}

// rejects collects the errors a listener reports through OnReject.
type rejects struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func newRejects() *rejects { return &rejects{ch: make(chan error, 100)} }

func (r *rejects) add(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.ch <- err
}

// next waits for the next refused connection.
func (r *rejects) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.ch:
		return err
	case <-time.After(testTimeout):
		t.Fatal("no connection was refused")
		return nil
	}
}

// listen starts a listener that records refusals; it is closed at cleanup.
func listen(t *testing.T, cfg ListenConfig) (*Listener, *rejects) {
	t.Helper()
	rj := newRejects()
	if cfg.OnReject == nil {
		cfg.OnReject = rj.add
	}
	l, err := Listen(socketPath(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, rj
}

// authorize registers a new secret for id.
func authorize(t *testing.T, l *Listener, id string) Secret {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Authorize(id, s, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	return s
}

// served is a Worker running in a goroutine.
type served struct {
	w    *Worker
	ctx  chan context.Context // the context the worker's code got
	stop chan struct{}        // closing it makes the worker's code return
	err  chan error           // Serve's result

	once   sync.Once
	result error
}

// serveWorker runs w.Serve with code that reports its context and returns
// when its context ends or stop is closed.
func serveWorker(t *testing.T, w *Worker) *served {
	t.Helper()
	s := &served{w: w, ctx: make(chan context.Context, 1), stop: make(chan struct{}), err: make(chan error, 1)}
	go func() {
		s.err <- w.Serve(t.Context(), func(ctx context.Context) error {
			s.ctx <- ctx
			select {
			case <-ctx.Done():
			case <-s.stop:
			}
			return nil
		})
	}()
	return s
}

// context waits for the context the worker's code runs with.
func (s *served) context(t *testing.T) context.Context {
	t.Helper()
	select {
	case ctx := <-s.ctx:
		s.ctx <- ctx
		return ctx
	case err := <-s.err:
		t.Fatalf("Serve returned early: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("the worker's code did not start")
	}
	return nil
}

// wait stops the worker's code and returns Serve's error.
func (s *served) wait(t *testing.T) error {
	t.Helper()
	s.once.Do(func() {
		close(s.stop)
		select {
		case s.result = <-s.err:
		case <-time.After(testTimeout):
			t.Error("Serve did not return")
		}
	})
	return s.result
}

// connect starts a worker for a new id and returns the core's connection.
func connect(t *testing.T, l *Listener, w *Worker) (*Conn, *served) {
	t.Helper()
	w.Socket = l.Path()
	w.Secret = authorize(t, l, w.Name)
	s := serveWorker(t, w)
	t.Cleanup(func() { s.wait(t) })
	c, err := l.Accept(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.context(t)
	return c, s
}

// acceptLater calls Accept in the background, so that a raw peer can
// complete its handshake before the test waits for the connection.
func acceptLater(t *testing.T, l *Listener) func() *Conn {
	t.Helper()
	type result struct {
		c   *Conn
		err error
	}
	ch := make(chan result, 1)
	ctx := testContext(t)
	go func() {
		c, err := l.Accept(ctx)
		ch <- result{c, err}
	}()
	return func() *Conn {
		t.Helper()
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	}
}

// acceptAll accepts and closes connections until the listener closes, so
// that handshakes proceed in tests that expect none to succeed.
func acceptAll(t *testing.T, l *Listener) {
	ctx := t.Context()
	go func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// rawPeer is a hand-driven end of a connection, for feeding a real end
// bytes that the package itself would never send.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	fr *frameReader
}

func dialRaw(t *testing.T, path string) *rawPeer {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, fr: newFrameReader(nc, 1<<30)}
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

// send writes v, marshalled to JSON, as one frame.
func (p *rawPeer) send(v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	p.write(appendFrame(nil, b))
}

// recv reads one frame into a generic map.
func (p *rawPeer) recv() map[string]any {
	p.t.Helper()
	payload, err := p.fr.next()
	if err != nil {
		p.t.Fatalf("reading a frame: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		p.t.Fatalf("frame %q: %v", payload, err)
	}
	return m
}

// expectClosed waits until the other end closes the connection.
func (p *rawPeer) expectClosed() {
	p.t.Helper()
	_, err := io.Copy(io.Discard, p.nc)
	if err != nil {
		p.t.Fatalf("waiting for the peer to close: %v", err)
	}
}

// hello returns a valid hello for secret.
func hello(secret Secret) map[string]any {
	return map[string]any{
		"type": "hello", "name": "raw", "pid": os.Getpid(), "version": "0.1",
		"protocols": []int{1}, "secret": secret.Encode(),
	}
}

// header returns a frame header that announces size bytes.
func header(size uint32) []byte { return binary.BigEndian.AppendUint32(nil, size) }
