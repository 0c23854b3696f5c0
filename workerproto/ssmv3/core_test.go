package ssmv3

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestCoreHealthCoalesces: probes that ask while a health survey runs share
// it — one survey on the wire, one result — rather than each cancelling the
// one before.
func TestCoreHealthCoalesces(t *testing.T) {
	const deadline = time.Second
	c := listenCore(t, deadline)
	a, silent := respondent(t, c.health), respondent(t, c.health)

	type result struct {
		m   map[int]Health
		err error
	}
	results := make(chan result, 10)
	health := func(ctx context.Context) {
		m, err := c.Health(ctx)
		results <- result{m, err}
	}
	go health(context.Background())
	id1, body := a.recvSurvey()
	if string(body) != wantHealthRequest {
		t.Fatalf("survey body %s", body)
	}
	silent.recvSurvey() // and never answers: the survey lasts its deadline
	const joiners = 7
	for range joiners {
		go health(context.Background())
	}
	// A caller whose context ends gives up alone.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Health(gone); !errors.Is(err, context.Canceled) {
		t.Errorf("Health with an ended context = %v", err)
	}
	a.reply(id1, healthBody(os.Getpid()))

	var first map[int]Health
	for i := range 1 + joiners {
		r := await(t, results)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if _, ok := r.m[os.Getpid()]; !ok || len(r.m) != 1 {
			t.Fatalf("Health = %v, want the answer from pid %d", r.m, os.Getpid())
		}
		if i == 0 {
			first = r.m
		} else if reflect.ValueOf(r.m).UnsafePointer() != reflect.ValueOf(first).UnsafePointer() {
			t.Errorf("caller %d got a result of its own", i)
		}
	}

	// The next survey is the one after the first: none was sent between.
	go health(context.Background())
	id2, _ := a.recvSurvey()
	if (id2-id1)&0x7fffffff != 1 {
		t.Errorf("survey ids 0x%08x then 0x%08x: surveys were sent in between", id1, id2)
	}
	if id, _ := silent.recvSurvey(); id != id2 {
		t.Errorf("the silent respondent's next survey is 0x%08x, want 0x%08x", id, id2)
	}
	a.reply(id2, healthBody(os.Getpid()))
	silent.reply(id2, healthBody(os.Getpid()))
	if r := await(t, results); r.err != nil || len(r.m) != 1 || reflect.ValueOf(r.m).UnsafePointer() == reflect.ValueOf(first).UnsafePointer() {
		t.Errorf("a later Health = %v, %v; want a new result", r.m, r.err)
	}
}

// TestCoreProbe: a worker that answers passes, another pid does not — and
// the survey does not wait for its deadline to tell.
func TestCoreProbe(t *testing.T) {
	const deadline = 5 * time.Second
	c := listenCore(t, deadline)
	serveWorker(t, &Worker{HealthSocket: c.health.Path(), TerminationSocket: c.term.Path()}, nil)
	waitRespondents(t, c.health, 1)

	ctx := testContext(t)
	if err := c.Probe(ctx, os.Getpid()); err != nil {
		t.Errorf("Probe(self) = %v", err)
	}
	res, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Health{SchemaVersion: 1, Name: "ssm-agent-worker", WorkerType: "LongRunning", Pid: os.Getpid()}
	if len(res) != 1 || res[os.Getpid()] != want {
		t.Errorf("Health = %+v, want {%d: %+v}", res, os.Getpid(), want)
	}
	t0 := time.Now()
	if err := c.Probe(ctx, os.Getpid()+1); err == nil {
		t.Error("Probe of a pid nobody answers for passed")
	}
	if d := time.Since(t0); d >= deadline {
		t.Errorf("Probe took %v: the survey waited for its deadline with every respondent answered", d)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Probe(gone, os.Getpid()); !errors.Is(err, context.Canceled) {
		t.Errorf("Probe with an ended context = %v", err)
	}
}

// TestCoreProbeDeadline: with nobody answering, Probe fails at the survey
// deadline.
func TestCoreProbeDeadline(t *testing.T) {
	const deadline = 100 * time.Millisecond
	c := listenCore(t, deadline)
	r := respondent(t, c.health)
	t0 := time.Now()
	err := c.Probe(testContext(t), os.Getpid())
	if err == nil {
		t.Fatal("Probe passed with nobody answering")
	}
	if d := time.Since(t0); d < deadline {
		t.Errorf("Probe failed after %v, before the survey deadline %v", d, deadline)
	}
	r.recvSurvey()
}

// TestCoreIgnoresBadReplies: replies that are not health results of a
// named, positive pid do not count as answers.
func TestCoreIgnoresBadReplies(t *testing.T) {
	c := listenCore(t, testTimeout)
	bad := []string{
		`garbage`,
		`{"SchemaVersion":1,"Topic":"GetWorkerHealthRequest","Payload":null}`,
		`{"SchemaVersion":1,"Topic":"GetWorkerHealthResult","Payload":null}`,
		string(HealthResult(Health{Name: "w", Pid: 0}).Marshal()),
		string(HealthResult(Health{Pid: os.Getpid()}).Marshal()),
	}
	var rs []*rawPeer
	for range bad {
		rs = append(rs, respondent(t, c.health))
	}
	res := make(chan error, 1)
	go func() { res <- c.Probe(context.Background(), os.Getpid()) }()
	for i, r := range rs {
		id, _ := r.recvSurvey()
		r.reply(id, []byte(bad[i]))
	}
	if err := await(t, res); err == nil {
		t.Error("Probe passed on bad replies")
	}
}

// TestCoreTerminate: Terminate sends TerminateWorkerRequest on the
// termination socket and returns without waiting for an answer.
func TestCoreTerminate(t *testing.T) {
	c := listenCore(t, testTimeout)
	ctx := testContext(t)
	if err := c.Terminate(ctx, os.Getpid()); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Terminate with nobody connected = %v, want ErrNotConnected", err)
	}
	h := respondent(t, c.health)
	r := respondent(t, c.term)
	// The respondent reads nothing until Terminate has returned: Terminate
	// cannot have had an answer, and must not wait for one.
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- c.Terminate(context.Background(), os.Getpid()) }()
	if err := await(t, done); err != nil {
		t.Fatalf("Terminate = %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Terminate took %v: it waited for an answer", d)
	}
	id, body := r.recvSurvey()
	if string(body) != wantTerminateRequest {
		t.Errorf("terminate request %s, want %s", body, wantTerminateRequest)
	}
	// A late answer is harmless.
	r.reply(id, []byte(wantTerminating1234))
	// Nothing went to the health socket: its next frame is the next
	// health survey.
	go c.Health(ctx)
	if _, body := h.recvSurvey(); string(body) != wantHealthRequest {
		t.Errorf("health socket got %s", body)
	}
}

// TestWorkerTerminatedByCore: a Worker told to terminate by a Core ends its
// code's context with cause ErrTerminated and disconnects.
func TestWorkerTerminatedByCore(t *testing.T) {
	c := listenCore(t, testTimeout)
	var log topicLog
	sv := serveWorker(t, &Worker{HealthSocket: c.health.Path(), TerminationSocket: c.term.Path(), OnRequest: log.add}, nil)
	ctx := sv.context(t)
	waitRespondents(t, c.health, 1)
	waitRespondents(t, c.term, 1)
	if err := c.Terminate(testContext(t), os.Getpid()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(testTimeout):
		t.Fatal("the worker's context did not end")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, ErrTerminated) {
		t.Errorf("cause %v, want ErrTerminated", cause)
	}
	if err := sv.wait(t); err != nil {
		t.Errorf("Serve = %v", err)
	}
	if got := log.get(); len(got) != 1 || got[0] != TopicTerminateRequest {
		t.Errorf("OnRequest told %q", got)
	}
	waitRespondents(t, c.health, 0)
	waitRespondents(t, c.term, 0)
}

// TestCoreClose: Close closes both sockets and removes their files.
func TestCoreClose(t *testing.T) {
	health, term := socketPair(t)
	c, err := ListenCore(CoreConfig{HealthSocket: health, TerminationSocket: term})
	if err != nil {
		t.Fatal(err)
	}
	if c.deadline != DefaultSurveyDeadline {
		t.Errorf("default survey deadline %v", c.deadline)
	}
	r := dialRaw(t, term)
	r.handshake(ProtoRespondent, ProtoSurveyor)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	r.expectClosed(0)
	for _, p := range []string{health, term} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Close: %v", p, err)
		}
	}
	// A second core may listen there now; a live one makes ListenCore fail,
	// leaving the live one alone.
	c2, err := ListenCore(CoreConfig{HealthSocket: health, TerminationSocket: term})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c3, err := ListenCore(CoreConfig{HealthSocket: health, TerminationSocket: term}); err == nil {
		c3.Close()
		t.Fatal("ListenCore took over live sockets")
	}
	respondent(t, c2.term)
}
