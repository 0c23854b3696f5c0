package ssmv3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// listenRaw listens on path with a plain listener, for a test that plays
// the core byte by byte.
func listenRaw(t testing.TB, path string) *net.UnixListener {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptRaw accepts the next connection on ln and handshakes as a
// surveyor, checking the respondent's header.
func acceptRaw(t testing.TB, ln *net.UnixListener) *rawPeer {
	t.Helper()
	ln.SetDeadline(time.Now().Add(testTimeout))
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t, c)
	p.handshake(ProtoSurveyor, ProtoRespondent)
	return p
}

// request is a request frame built by hand: backtrace words, then body.
func request(body string, backtrace ...uint32) []byte {
	var hdr []byte
	for _, w := range backtrace {
		hdr = binary.BigEndian.AppendUint32(hdr, w)
	}
	b := binary.BigEndian.AppendUint64([]byte{0x01}, uint64(len(hdr)+len(body)))
	return append(append(b, hdr...), body...)
}

// recvReply reads one reply frame and returns its backtrace (n words) and
// body.
func (p *rawPeer) recvReply(n int) ([]byte, string) {
	p.t.Helper()
	head := p.readN(9)
	if head[0] != 0x01 {
		p.t.Fatalf("frame starts with 0x%02x", head[0])
	}
	size := binary.BigEndian.Uint64(head[1:])
	if size < uint64(4*n) || size > MaxFrameSize {
		p.t.Fatalf("reply of %d bytes", size)
	}
	frame := p.readN(int(size))
	return frame[:4*n], string(frame[4*n:])
}

// healthResultFor is the exact body of a v3 health result for pid, built
// from the wire description rather than by the package.
func healthResultFor(name, typ string, pid int, terminating bool) string {
	payload := fmt.Sprintf(`{"SchemaVersion":1,"Name":%q,"WorkerType":%q,"Pid":%d`, name, typ, pid)
	if terminating {
		payload += `,"IsTerminating":true`
	}
	payload += "}"
	return `{"SchemaVersion":1,"Topic":"GetWorkerHealthResult","Payload":"` + base64.StdEncoding.EncodeToString([]byte(payload)) + `"}`
}

// topicLog records the topics a Worker is told of.
type topicLog struct {
	mu     sync.Mutex
	topics []string
}

func (l *topicLog) add(topic string) {
	l.mu.Lock()
	l.topics = append(l.topics, topic)
	l.mu.Unlock()
}

func (l *topicLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.topics)
}

// TestWorkerAnswersHealth drives a Worker from a raw core: the exact reply
// to a health request, the backtrace echoed, requests that are not
// messages or not known left unanswered, and a redial after the core
// breaks the protocol.
func TestWorkerAnswersHealth(t *testing.T) {
	health, term := socketPair(t)
	hl, tl := listenRaw(t, health), listenRaw(t, term)
	var log topicLog
	serveWorker(t, &Worker{HealthSocket: health, TerminationSocket: term, OnRequest: log.add}, nil)
	hp, _ := acceptRaw(t, hl), acceptRaw(t, tl)

	hp.write(request(wantHealthRequest, 0x00000007, 0x8000002a))
	want := healthResultFor("ssm-agent-worker", "LongRunning", os.Getpid(), false)
	bt, body := hp.recvReply(2)
	if !bytes.Equal(bt, []byte{0, 0, 0, 7, 0x80, 0, 0, 0x2a}) || body != want {
		t.Fatalf("reply % x %s\nwant % x %s", bt, body, []byte{0, 0, 0, 7, 0x80, 0, 0, 0x2a}, want)
	}

	hp.write(request("not json", 0x8000002b))
	hp.write(request(`{"SchemaVersion":1,"Topic":"SomethingElse","Payload":null}`, 0x8000002c))
	hp.write(request(wantHealthRequest, 0x8000002d))
	if bt, body := hp.recvReply(1); !bytes.Equal(bt, []byte{0x80, 0, 0, 0x2d}) || body != want {
		t.Fatalf("reply % x %s, want the answer to survey 0x8000002d", bt, body)
	}
	if got, want := log.get(), []string{TopicHealthRequest, "SomethingElse", TopicHealthRequest}; !slices.Equal(got, want) {
		t.Errorf("OnRequest told %q, want %q", got, want)
	}

	// A request without a survey id: the worker hangs up and dials again.
	hp.write(request("x", 0x00000001))
	hp.expectClosed(0)
	hp = acceptRaw(t, hl)
	hp.write(request(wantHealthRequest, 0x80000100))
	if bt, body := hp.recvReply(1); !bytes.Equal(bt, []byte{0x80, 0, 1, 0}) || body != want {
		t.Fatalf("after the redial: reply % x %s", bt, body)
	}

	// A core that goes away is dialled again too.
	hp.c.Close()
	hp = acceptRaw(t, hl)
	hp.write(request(wantHealthRequest, 0x80000101))
	if _, body := hp.recvReply(1); body != want {
		t.Fatalf("after the core hung up: reply %s", body)
	}
}

func TestWorkerNameAndType(t *testing.T) {
	health, term := socketPair(t)
	hl, tl := listenRaw(t, health), listenRaw(t, term)
	serveWorker(t, &Worker{Name: "my-worker", WorkerType: "Session", HealthSocket: health, TerminationSocket: term}, nil)
	hp, _ := acceptRaw(t, hl), acceptRaw(t, tl)
	hp.write(request(wantHealthRequest, 0x80000001))
	if _, body := hp.recvReply(1); body != healthResultFor("my-worker", "Session", os.Getpid(), false) {
		t.Errorf("reply %s", body)
	}
}

// TestWorkerTerminateReply: the answer to TerminateWorkerRequest, byte by
// byte, then both connections closed and the worker's code cancelled with
// cause ErrTerminated; Serve returns what the code returned.
func TestWorkerTerminateReply(t *testing.T) {
	health, term := socketPair(t)
	hl, tl := listenRaw(t, health), listenRaw(t, term)
	codeErr := errors.New("the worker's code returns this")
	sv := serveWorker(t, &Worker{HealthSocket: health, TerminationSocket: term}, codeErr)
	hp, tp := acceptRaw(t, hl), acceptRaw(t, tl)
	ctx := sv.context(t)
	if ctx.Err() != nil {
		t.Fatal("the worker's context ended before any request")
	}

	tp.write(request(wantTerminateRequest, 0x80000099))
	bt, body := tp.recvReply(1)
	if !bytes.Equal(bt, []byte{0x80, 0, 0, 0x99}) || body != healthResultFor("ssm-agent-worker", "LongRunning", os.Getpid(), true) {
		t.Errorf("terminate reply % x %s", bt, body)
	}
	tp.expectClosed(0)
	hp.expectClosed(0)
	<-ctx.Done()
	if cause := context.Cause(ctx); !errors.Is(cause, ErrTerminated) {
		t.Errorf("the context's cause is %v, want ErrTerminated", cause)
	}
	if err := sv.wait(t); err != codeErr {
		t.Errorf("Serve = %v, want the code's error", err)
	}
}

// TestWorkerServeReturns: when the worker's code returns by itself Serve
// returns its error and hangs up; when the caller's context ends the
// code's context ends with the caller's cause, not ErrTerminated.
func TestWorkerServeReturns(t *testing.T) {
	c := listenCore(t, testTimeout)
	h, term := c.health.Path(), c.term.Path()
	codeErr := errors.New("done")
	sv := serveWorker(t, &Worker{HealthSocket: h, TerminationSocket: term}, codeErr)
	sv.context(t)
	waitRespondents(t, c.health, 1)
	waitRespondents(t, c.term, 1)
	close(sv.stop)
	if err := sv.wait(t); err != codeErr {
		t.Errorf("Serve = %v, want the code's error", err)
	}
	waitRespondents(t, c.health, 0)
	waitRespondents(t, c.term, 0)

	ctx, cancel := context.WithCancelCause(context.Background())
	stopped := errors.New("stopped by the caller")
	got := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- (&Worker{HealthSocket: h, TerminationSocket: term}).Serve(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			got <- context.Cause(ctx)
			return nil
		})
	}()
	waitRespondents(t, c.health, 1)
	cancel(stopped)
	if cause := await(t, got); cause != stopped {
		t.Errorf("the code's context ended with %v, want the caller's cause", cause)
	}
	if err := await(t, done); err != nil {
		t.Errorf("Serve = %v", err)
	}
}

// TestWorkerDialsLateCore: a worker started before the core listens
// connects once it does, and again after the core restarts.
func TestWorkerDialsLateCore(t *testing.T) {
	health, term := socketPair(t)
	serveWorker(t, &Worker{HealthSocket: health, TerminationSocket: term, RedialInterval: 20 * time.Millisecond}, nil)

	cfg := CoreConfig{HealthSocket: health, TerminationSocket: term, SurveyDeadline: testTimeout}
	for round := range 2 {
		c, err := ListenCore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		waitRespondents(t, c.health, 1)
		waitRespondents(t, c.term, 1)
		if err := c.Probe(testContext(t), os.Getpid()); err != nil {
			t.Errorf("round %d: Probe = %v", round, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWorkerDialsListeningCore: the other way round, the core first.
func TestWorkerDialsListeningCore(t *testing.T) {
	c := listenCore(t, testTimeout)
	serveWorker(t, &Worker{HealthSocket: c.health.Path(), TerminationSocket: c.term.Path()}, nil)
	waitRespondents(t, c.health, 1)
	waitRespondents(t, c.term, 1)
	if err := c.Probe(testContext(t), os.Getpid()); err != nil {
		t.Errorf("Probe = %v", err)
	}
	if got := c.Respondents(); !slices.Equal(got, []int{wantPID()}) {
		t.Errorf("Respondents = %v, want [%d]", got, wantPID())
	}
}
