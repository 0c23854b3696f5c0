package workerproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestNotSupervised(t *testing.T) {
	t.Setenv(EnvSocket, "")
	t.Setenv(EnvSecret, "")
	os.Unsetenv(EnvSecret)
	called := false
	err := (&Worker{Name: "w"}).Serve(t.Context(), func(context.Context) error { called = true; return nil })
	if !errors.Is(err, ErrNotSupervised) || !strings.Contains(err.Error(), EnvSocket+" is not set") || called {
		t.Fatalf("Serve by hand = %v (code ran: %v), want ErrNotSupervised naming %s", err, called, EnvSocket)
	}
	t.Setenv(EnvSocket, "/nonexistent/core.sock")
	err = (&Worker{Name: "w"}).Serve(t.Context(), func(context.Context) error { return nil })
	if !errors.Is(err, ErrNotSupervised) || !strings.Contains(err.Error(), EnvSecret) {
		t.Fatalf("Serve without a secret = %v", err)
	}
	if err := (&Worker{}).Serve(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "Name") {
		t.Errorf("Serve without a name = %v", err)
	}
	w := &Worker{Name: "w"}
	if err := w.Ready(); !errors.Is(err, ErrNotServing) {
		t.Errorf("Ready outside Serve = %v", err)
	}
	if err := w.Event(t.Context(), Event{Type: "t", Name: "n"}); !errors.Is(err, ErrNotServing) {
		t.Errorf("Event outside Serve = %v", err)
	}
}

func TestServeFromEnvironment(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	secret := authorize(t, l, "env-worker")
	for _, kv := range Env(l.Path(), secret) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s := serveWorker(t, &Worker{Name: "env-worker"})
	c, err := l.Accept(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.context(t)
	if c.Peer().ID != "env-worker" {
		t.Errorf("peer %q", c.Peer().ID)
	}
	if v, ok := os.LookupEnv(EnvSecret); ok {
		t.Errorf("the secret is still in the environment: %d characters", len(v))
	}
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestServeRefused(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	authorize(t, l, "w")
	acceptAll(t, l)
	wrong, _ := NewSecret()
	called := false
	err := (&Worker{Name: "w", Socket: l.Path(), Secret: wrong}).Serve(t.Context(), func(context.Context) error { called = true; return nil })
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != "authentication failed: unknown secret" || called {
		t.Fatalf("Serve with a wrong secret = %v (code ran: %v)", err, called)
	}
	if strings.Contains(err.Error(), wrong.Encode()) {
		t.Fatal("the error contains the secret")
	}
}

func TestServeNoCore(t *testing.T) {
	secret, _ := NewSecret()
	w := &Worker{Name: "w", Socket: socketPath(t), Secret: secret, HandshakeTimeout: 100 * time.Millisecond}
	start := time.Now()
	err := w.Serve(t.Context(), func(context.Context) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "cannot reach the core at "+w.Socket) {
		t.Fatalf("Serve without a core = %v", err)
	}
	if d := time.Since(start); d > testTimeout/2 {
		t.Fatalf("Serve without a core took %v", d)
	}
}

// TestReconnect: a core that goes away and comes back on the same socket
// takes the worker over; the worker's code keeps running throughout, and an
// event sent while the core was away is delivered.
func TestReconnect(t *testing.T) {
	events := make(chan Event, 10)
	cfg := ListenConfig{OnEvent: func(_ *Conn, e Event) error { events <- e; return nil }}
	l, _ := listen(t, cfg)
	lost := make(chan error, 10)
	w := &Worker{Name: "w", OnConnection: func(err error) { lost <- err }}
	c, s := connect(t, l, w)
	ctx := s.context(t)
	if err := w.Ready(); err != nil {
		t.Fatal(err)
	}
	<-c.Ready()
	path := l.Path()

	// The core goes away.
	c.Close()
	l.Close()
	if err := <-lost; err == nil {
		t.Fatal("OnConnection reported a reconnect before the loss")
	}
	sent := make(chan error, 1)
	go func() { sent <- w.Event(testContext(t), Event{Type: "t", Name: "while-away"}) }()

	// A new core on the same path, knowing the same secret.
	l2, err := Listen(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Authorize("w", w.Secret, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	c2, err := l2.Accept(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := <-lost; err != nil {
		t.Fatalf("OnConnection after the reconnect = %v, want nil", err)
	}
	select {
	case <-c2.Ready(): // the hello said so
	default:
		t.Error("the new core did not learn that the worker is ready")
	}
	if err := <-sent; err != nil {
		t.Fatalf("event sent while the core was away: %v", err)
	}
	if e := <-events; e.Name != "while-away" {
		t.Errorf("delivered %q", e.Name)
	}
	if _, err := c2.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the worker's context ended across the reconnect: %v", context.Cause(ctx))
	}
}

func TestGraceExpires(t *testing.T) {
	l, _ := listen(t, ListenConfig{})
	w := &Worker{Name: "w", ReconnectGrace: 100 * time.Millisecond}
	c, s := connect(t, l, w)
	ctx := s.context(t)
	c.Close()
	l.Close()
	// An event sent while the core is away fails when the grace ends.
	sent := make(chan error, 1)
	go func() { sent <- w.Event(testContext(t), Event{Type: "t", Name: "n"}) }()
	select {
	case <-ctx.Done():
	case <-time.After(testTimeout):
		t.Fatal("the context outlived the grace period")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, ErrCoreLost) {
		t.Fatalf("cause = %v, want ErrCoreLost", cause)
	}
	if err := <-sent; !errors.Is(err, ErrCoreLost) && !errors.Is(err, ErrNotServing) {
		t.Errorf("Event while the core was lost = %v", err)
	}
}

func TestCoreSilenceIsALoss(t *testing.T) {
	// The core announces 20 ms health checks but never pings: after three
	// intervals of silence the worker redials.
	l, _ := listen(t, ListenConfig{HealthInterval: 20 * time.Millisecond})
	lost := make(chan error, 10)
	w := &Worker{Name: "w", OnConnection: func(err error) { lost <- err }}
	c, _ := connect(t, l, w)
	if err := <-lost; err == nil || !strings.Contains(err.Error(), "no message from the core for 60ms") {
		t.Fatalf("OnConnection = %v", err)
	}
	<-c.Done()
	c2, err := l.Accept(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
}

// rawCore accepts one worker connection on a plain socket and completes its
// handshake by hand.
func rawCore(t *testing.T, welcome map[string]any) (*Worker, *rawPeer, *served) {
	t.Helper()
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	secret, _ := NewSecret()
	w := &Worker{Name: "w", Socket: path, Secret: secret, HandshakeTimeout: time.Second}
	s := serveWorker(t, w)
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { nc.Close() })
	p := &rawPeer{t: t, nc: nc, fr: newFrameReader(nc, 1<<20)}
	h := p.recv()
	if h["type"] != "hello" || h["secret"] != secret.Encode() || h["name"] != "w" || h["pid"] != float64(os.Getpid()) {
		t.Fatalf("hello = %v", h)
	}
	p.send(welcome)
	return w, p, s
}

func TestWorkerSide(t *testing.T) {
	w, p, s := rawCore(t, map[string]any{"type": "welcome", "protocol": 1, "health_interval_ms": 60000, "future": true})
	ctx := s.context(t)

	p.send(map[string]any{"type": "bogus", "id": 5})
	if m := p.recv(); m["type"] != "error" || m["id"] != float64(5) || !strings.Contains(m["error"].(string), `"bogus"`) {
		t.Fatalf("answer to an unknown type: %v", m)
	}
	p.send(map[string]any{"type": "ping", "id": 6, "unknown": "ignored"})
	if m := p.recv(); m["type"] != "pong" || m["id"] != float64(6) || m["status"] != "ok" {
		t.Fatalf("answer to a ping: %v", m)
	}

	// An event that the core answers with an error reply instead of an ack.
	done := make(chan error, 1)
	go func() { done <- w.Event(testContext(t), Event{Type: "t", Name: "n"}) }()
	ev := p.recv()
	p.send(map[string]any{"type": "error", "id": ev["id"], "error": "cannot store"})
	if err := <-done; err == nil || !strings.Contains(err.Error(), "cannot store") {
		t.Fatalf("event answered by an error: %v", err)
	}

	deadline := time.Now().Add(time.Minute).UTC().Round(time.Second)
	p.send(map[string]any{"type": "terminate", "id": 7, "deadline": deadline})
	if m := p.recv(); m["type"] != "terminating" || m["id"] != float64(7) {
		t.Fatalf("answer to terminate: %v", m)
	}
	<-ctx.Done()
	var te *TerminateError
	if !errors.As(context.Cause(ctx), &te) || !te.Deadline.Equal(deadline) {
		t.Fatalf("cause = %v", context.Cause(ctx))
	}
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerRefusesBadWelcome(t *testing.T) {
	for _, tt := range []struct {
		welcome map[string]any
		want    string
	}{
		{map[string]any{"type": "welcome", "protocol": 9}, "chose protocol version 9"},
		{map[string]any{"type": "pong"}, `answered the hello with "pong"`},
		{map[string]any{"type": "refused", "error": "go away"}, "refused the worker: go away"},
	} {
		_, _, s := rawCore(t, tt.welcome)
		select {
		case err := <-s.err:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("welcome %v: Serve = %v, want %q", tt.welcome, err, tt.want)
			}
		case <-s.ctx:
			t.Errorf("welcome %v: the worker's code ran", tt.welcome)
		case <-time.After(testTimeout):
			t.Fatal("Serve did not return")
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	enc := s.Encode()
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		for _, v := range []any{s, &s, struct{ S Secret }{s}, struct{ s Secret }{s}, []Secret{s}} {
			if out := fmt.Sprintf(format, v); strings.Contains(out, enc) || strings.Contains(strings.ToLower(out), enc[:16]) {
				t.Errorf("Sprintf(%q) printed the secret: %s", format, out)
			}
		}
	}
	back, err := ParseSecret(enc)
	if err != nil || !back.Equal(s) {
		t.Fatalf("ParseSecret(Encode()) = %v", err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 64)} {
		_, err := ParseSecret(bad)
		if err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("ParseSecret(%q) = %v", bad, err)
		}
	}
}
