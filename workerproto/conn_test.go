package workerproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHandshakeAndPing(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	c, _ := connect(t, l, &Worker{Name: "agent-worker", Version: "3.1.0.0"})
	p := c.Peer()
	if p.ID != "agent-worker" || p.Name != "agent-worker" || p.Version != "3.1.0.0" || p.Protocol != Version || p.PID != os.Getpid() {
		t.Errorf("Peer = %+v", p)
	}
	if runtime.GOOS == "linux" && p.UID != os.Getuid() {
		t.Errorf("Peer.UID = %d, want %d", p.UID, os.Getuid())
	}
	pong, err := c.Ping(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if pong.Health != HealthOK || pong.Detail != "" || pong.RTT <= 0 {
		t.Errorf("Pong = %+v, want ok with a round-trip time", pong)
	}
}

func TestPingReportsHealth(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	w := &Worker{Name: "w"}
	c, _ := connect(t, l, w)
	w.SetHealth(HealthDegraded, "disk full "+strings.Repeat("é", 200))
	pong, err := c.Ping(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if pong.Health != HealthDegraded || !strings.HasPrefix(pong.Detail, "disk full ") || len(pong.Detail) > maxDetail {
		t.Errorf("Pong = %s %q (%d bytes), want degraded with the detail cut to %d bytes", pong.Health, pong.Detail, len(pong.Detail), maxDetail)
	}
}

func TestReady(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	w := &Worker{Name: "w"}
	c, _ := connect(t, l, w)
	select {
	case <-c.Ready():
		t.Fatal("ready before the worker said so")
	default:
	}
	if !c.ReadyAt().IsZero() {
		t.Fatal("ReadyAt set before ready")
	}
	if err := w.Ready(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Ready():
	case <-time.After(testTimeout):
		t.Fatal("readiness never arrived")
	}
	if c.ReadyAt().IsZero() {
		t.Error("ReadyAt is zero after ready")
	}
}

func TestEvents(t *testing.T) {
	got := make(chan Event, 10)
	l, _ := listen(t, ListenConfig{OnEvent: func(c *Conn, e Event) error {
		if e.Name == "refuse-me" {
			return errors.New("spool is full")
		}
		if c.Peer().ID != "w" {
			t.Errorf("event from %q", c.Peer().ID)
		}
		got <- e
		return nil
	}})
	w := &Worker{Name: "w"}
	c, _ := connect(t, l, w)
	ctx := testContext(t)
	at := time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC)
	err := w.Event(ctx, Event{Type: "agent_telemetry", Name: "ssm-agent-worker.start", Time: at, Attributes: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	e := <-got
	if e.Type != "agent_telemetry" || e.Name != "ssm-agent-worker.start" || !e.Time.Equal(at) || e.Attributes["k"] != "v" || e.ID == "" {
		t.Errorf("core got %+v", e)
	}
	// Defaults: time now, a unique id.
	if err := w.Event(ctx, Event{Type: "t", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	e2 := <-got
	if e2.Time.IsZero() || e2.ID == "" || e2.ID == e.ID {
		t.Errorf("defaults not set: %+v (first id %q)", e2, e.ID)
	}

	err = w.Event(ctx, Event{Type: "t", Name: "refuse-me"})
	if err == nil || !strings.Contains(err.Error(), "event refused: spool is full") {
		t.Errorf("refused event: error %v", err)
	}
	for _, bad := range []Event{{Name: "n"}, {Type: "t"}, {Type: "t", Name: "\xff"}} {
		if err := w.Event(ctx, bad); err == nil {
			t.Errorf("invalid event %+v accepted", bad)
		}
	}
	huge := Event{Type: "t", Name: "n", Attributes: map[string]string{"x": strings.Repeat("x", DefaultMaxFrameSize)}}
	if err := w.Event(ctx, huge); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized event: error %v, want ErrFrameTooLarge", err)
	}
	// The connection survived all of that.
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTerminate(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	w := &Worker{Name: "w"}
	c, s := connect(t, l, w)
	ctx := s.context(t)
	deadline := time.Now().Add(3 * time.Second).Round(time.Millisecond)
	if err := c.Terminate(testContext(t), deadline); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(testTimeout):
		t.Fatal("the worker's context was not cancelled")
	}
	var te *TerminateError
	cause := context.Cause(ctx)
	if !errors.Is(cause, ErrTerminated) || !errors.As(cause, &te) || !te.Deadline.Equal(deadline) {
		t.Errorf("cause = %v, want a *TerminateError with deadline %v", cause, deadline)
	}
	if err := s.wait(t); err != nil {
		t.Errorf("Serve = %v", err)
	}
	// The worker hung up when it finished serving.
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("connection still up after the worker finished")
	}
	if !errors.Is(c.Err(), io.EOF) {
		t.Errorf("Err = %v, want EOF", c.Err())
	}
}

func TestPingUnanswered(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	secret := authorize(t, l, "silent")
	accepted := acceptLater(t, l)
	p := dialRaw(t, l.Path())
	p.send(hello(secret))
	if m := p.recv(); m["type"] != "welcome" || m["protocol"] != float64(1) {
		t.Fatalf("handshake answer %v", m)
	}
	c := accepted()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Ping(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ping silent") {
		t.Fatalf("Ping of a silent worker: %v, want the deadline exceeded", err)
	}
	// The ping arrived; a late pong is dropped harmlessly.
	ping := p.recv()
	p.send(map[string]any{"type": "pong", "id": ping["id"], "status": "ok"})
	if _, err := c.Ping(ctxAnswered(t, p)); err != nil {
		t.Fatal(err)
	}
}

// ctxAnswered answers the next ping on p in the background and returns a
// context for the Ping that sends it.
func ctxAnswered(t *testing.T, p *rawPeer) context.Context {
	go func() {
		payload, err := p.fr.next()
		if err != nil {
			return
		}
		m, _ := decode(payload)
		b, _ := encode(nil, &message{Type: typePong, ID: m.ID, Status: HealthOK})
		p.nc.Write(b)
	}()
	return testContext(t)
}

func TestUnknownMessageTypeKeepsConnection(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	secret := authorize(t, l, "w")
	accepted := acceptLater(t, l)
	p := dialRaw(t, l.Path())
	p.send(hello(secret))
	p.recv()
	c := accepted()
	p.send(map[string]any{"type": "frobnicate", "id": 7, "future_field": []int{1}})
	m := p.recv()
	if m["type"] != "error" || m["id"] != float64(7) || !strings.Contains(m["error"].(string), `unknown message type "frobnicate"`) {
		t.Fatalf("answer to an unknown type: %v", m)
	}
	// Unknown fields are ignored; the connection is still up.
	p.send(map[string]any{"type": "ready", "extra": "ignored"})
	select {
	case <-c.Ready():
	case <-time.After(testTimeout):
		t.Fatal("ready after an unknown message was not seen")
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
}

// afterHandshake returns a raw worker that completed its handshake and the
// core's connection to it.
func afterHandshake(t *testing.T, cfg ListenConfig) (*rawPeer, *Conn) {
	t.Helper()
	l, _ := listen(t, cfg)
	secret := authorize(t, l, "w")
	accepted := acceptLater(t, l)
	p := dialRaw(t, l.Path())
	p.send(hello(secret))
	if m := p.recv(); m["type"] != "welcome" {
		t.Fatalf("handshake answer %v", m)
	}
	return p, accepted()
}

func waitDone(t *testing.T, c *Conn) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(testTimeout):
		t.Fatal("the connection did not end")
		return nil
	}
}

func TestBadFramesEndTheConnection(t *testing.T) {
	tests := []struct {
		name  string
		bytes []byte
		close bool // the peer hangs up after writing
		want  string
		is    error
	}{
		{"oversized", header(1<<10 + 1), false, "frame too large: 1025 bytes, the limit is 1024", ErrFrameTooLarge},
		{"4 GiB announced", header(1<<32 - 1), false, "frame too large: 4294967295 bytes", ErrFrameTooLarge},
		{"empty frame", header(0), false, "empty frame", ErrProtocol},
		{"truncated frame", append(header(100), "0123456789"...), true, "truncated frame: got 10 of 100 bytes", ErrProtocol},
		{"truncated header", []byte{0, 0}, true, "truncated frame header: got 2 of 4 bytes", ErrProtocol},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, "frame too large", ErrFrameTooLarge},
		{"not JSON", appendFrame(nil, []byte("hello?")), false, "malformed message", ErrProtocol},
		{"JSON array", appendFrame(nil, []byte("[1,2]")), false, "malformed message", ErrProtocol},
		{"no type", appendFrame(nil, []byte(`{"id":1}`)), false, "message without a type", ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := afterHandshake(t, ListenConfig{MaxFrameSize: 1 << 10})
			p.write(tt.bytes)
			if tt.close {
				p.nc.(interface{ CloseWrite() error }).CloseWrite()
			}
			err := waitDone(t, c)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Err = %v, want %v saying %q", err, tt.is, tt.want)
			}
			if _, err := c.Ping(testContext(t)); err == nil {
				t.Error("Ping on an ended connection succeeded")
			}
		})
	}
}

func TestHandshakeRefusals(t *testing.T) {
	good, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSecret()
	with := func(change func(map[string]any)) map[string]any {
		h := hello(good)
		change(h)
		return h
	}
	tests := []struct {
		name   string
		send   []byte
		answer string // the reason the peer is told; "" when it is not told
		report string // what OnReject hears
	}{
		{"wrong secret", frameOf(t, hello(other)), "authentication failed: unknown secret", "authentication failed"},
		{"malformed secret", frameOf(t, with(func(h map[string]any) { h["secret"] = "xyz" })), "authentication failed: malformed secret", "malformed secret"},
		{"no secret", frameOf(t, with(func(h map[string]any) { delete(h, "secret") })), "authentication failed", "authentication failed"},
		{"version mismatch", frameOf(t, with(func(h map[string]any) { h["protocols"] = []int{2, 3} })), "no common protocol version: worker speaks 2–3, core speaks 1", "worker speaks 2–3, core speaks 1"},
		{"no versions", frameOf(t, with(func(h map[string]any) { delete(h, "protocols") })), "worker speaks none, core speaks 1", "worker speaks none"},
		{"not a hello", frameOf(t, map[string]any{"type": "ping", "id": 1}), `first message is "ping", want "hello"`, `first message is "ping"`},
		{"no name", frameOf(t, with(func(h map[string]any) { delete(h, "name") })), "hello without a worker name", "without a worker name"},
		{"garbage", []byte("\x00\x00\x00\x05junk!"), "", "malformed message"},
		{"oversized hello", header(DefaultMaxFrameSize + 1), "", "frame too large"},
	}
	if runtime.GOOS == "linux" {
		tests = append(tests, struct {
			name           string
			send           []byte
			answer, report string
		}{
			"lying pid", frameOf(t, with(func(h map[string]any) { h["pid"] = 1 })),
			fmt.Sprintf("hello says pid 1, but the socket's peer is pid %d", os.Getpid()), "hello says pid 1"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, rj := listen(t, ListenConfig{})
			if err := l.Authorize("w", good, os.Getpid()); err != nil {
				t.Fatal(err)
			}
			acceptAll(t, l)
			p := dialRaw(t, l.Path())
			p.write(tt.send)
			if tt.answer != "" {
				m := p.recv()
				if m["type"] != "refused" || !strings.Contains(m["error"].(string), tt.answer) {
					t.Errorf("answer %v, want refused: %q", m, tt.answer)
				}
			}
			p.expectClosed()
			err := rj.next(t)
			if !strings.Contains(err.Error(), tt.report) {
				t.Errorf("OnReject got %q, want it to say %q", err, tt.report)
			}
			for _, s := range []Secret{good, other} {
				if strings.Contains(err.Error(), s.Encode()) {
					t.Errorf("OnReject error %q contains a secret", err)
				}
			}
		})
	}
}

func frameOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return appendFrame(nil, b)
}

func TestNoHelloTimesOut(t *testing.T) {
	l, rj := listen(t, ListenConfig{HandshakeTimeout: 50 * time.Millisecond, UnknownHandshakeTimeout: 50 * time.Millisecond})
	accepted := acceptLater(t, l)
	p := dialRaw(t, l.Path())
	p.expectClosed()
	if err := rj.next(t); !strings.Contains(err.Error(), "no hello within 50ms") {
		t.Errorf("OnReject got %v", err)
	}
	// A silent peer does not hold up a good one.
	dialRaw(t, l.Path())
	w := &Worker{Name: "good", Socket: l.Path(), Secret: authorize(t, l, "good")}
	s := serveWorker(t, w)
	defer s.wait(t)
	if c := accepted(); c.Peer().ID != "good" {
		t.Fatalf("accepted %q", c.Peer().ID)
	}
}

func TestRevokeAndReauthorize(t *testing.T) {
	l, rj := listen(t, ListenConfig{})
	acceptAll(t, l)
	s1 := authorize(t, l, "w")
	s2 := authorize(t, l, "w") // replaces s1
	p := dialRaw(t, l.Path())
	p.send(hello(s1))
	if m := p.recv(); m["type"] != "refused" {
		t.Errorf("a replaced secret was accepted: %v", m)
	}
	rj.next(t)
	if err := l.Authorize("other", s2, os.Getpid()); err == nil {
		t.Error("one secret authorized for two ids")
	}
	if err := l.Authorize("x", Secret{}, os.Getpid()); err == nil {
		t.Error("the zero secret was authorized")
	}
	l.Revoke("w")
	p = dialRaw(t, l.Path())
	p.send(hello(s2))
	if m := p.recv(); m["type"] != "refused" {
		t.Errorf("a revoked secret was accepted: %v", m)
	}
}

func TestConcurrentPingsAndEvents(t *testing.T) {
	var received atomic.Int64
	l, _ := listen(t, ListenConfig{OnEvent: func(*Conn, Event) error {
		received.Add(1)
		return nil
	}})
	w := &Worker{Name: "w"}
	c, _ := connect(t, l, w)
	ctx := testContext(t)
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for range goroutines {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := c.Ping(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range each {
				if err := w.Event(ctx, Event{Type: "t", Name: fmt.Sprint(i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := received.Load(); n != goroutines*each {
		t.Errorf("core received %d events, want %d", n, goroutines*each)
	}
}

func TestAcceptContextAndClose(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Accept(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept on a cancelled context: %v", err)
	}
	path := l.Path()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}
