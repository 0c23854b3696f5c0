package workerproto

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// helperEnv, when set, makes the test binary run as a worker process.
const helperEnv = "WORKERPROTO_TEST_WORKER"

// helperWorkerMain is the worker the test binary becomes: it reports ready,
// sends one event, and exits 0 when the core asks it to terminate (3 if the
// context ends for another reason).
func helperWorkerMain() int {
	w := &Worker{Name: "helper", Version: "1.0"}
	err := w.Serve(context.Background(), func(ctx context.Context) error {
		if err := w.Ready(); err != nil {
			return err
		}
		if err := w.Event(ctx, Event{Type: "agent_telemetry", Name: "helper.start", Attributes: map[string]string{"pid": "self"}}); err != nil {
			return err
		}
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), ErrTerminated) {
			return context.Cause(ctx)
		}
		return nil
	})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 3
	}
	return 0
}

// TestWorkerProcess runs the worker as a real separate process.
func TestWorkerProcess(t *testing.T) {
	events := make(chan Event, 1)
	l, _ := listen(t, ListenConfig{OnEvent: func(_ *Conn, e Event) error { events <- e; return nil }})
	secret, _ := NewSecret()
	if err := l.Authorize("helper-1", secret, 0); err != nil { // the pid is not known before the fork
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Env = append(cmd.Env, Env(l.Path(), secret)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPID("helper-1", cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })

	ctx := testContext(t)
	c, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.Peer(); p.ID != "helper-1" || p.Name != "helper" || p.PID != cmd.Process.Pid {
		t.Errorf("Peer = %+v, want helper-1 with pid %d", p, cmd.Process.Pid)
	}
	select {
	case <-c.Ready():
	case <-ctx.Done():
		t.Fatal("the worker never became ready")
	}
	select {
	case e := <-events:
		if e.Name != "helper.start" || e.Attributes["pid"] != "self" {
			t.Errorf("event %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("no event")
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Terminate(ctx, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("worker exited with %v, want 0", waitErr)
		}
	case <-ctx.Done():
		t.Fatal("the worker did not exit after terminate")
	}
	<-c.Done()
}
