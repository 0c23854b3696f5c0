//go:build linux

package ssmv3

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperProc is the test binary running as a respondent process.
type helperProc struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{}
	err    error       // cmd.Wait's, once exited is closed
	stderr *syncBuffer // what it said
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startHelper starts the test binary as a respondent of mode, on the
// core c's sockets; it is killed at cleanup if still running.
func startHelper(t *testing.T, mode string, c *Core) *helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperHealthEnv+"="+c.health.Path(), helperTermEnv+"="+c.term.Path(),
		// Under the race detector a process sleeps 1 s before it exits.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	h := &helperProc{cmd: cmd, exited: make(chan struct{}), stderr: &syncBuffer{}}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.pid = cmd.Process.Pid
	go func() { h.err = cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-h.exited
	})
	return h
}

// waitExit waits for the helper to exit and checks it exited 0.
func (h *helperProc) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-h.exited:
	case <-time.After(testTimeout):
		t.Fatalf("helper %d did not exit", h.pid)
	}
	if h.err != nil {
		t.Errorf("helper %d: %v; stderr: %s", h.pid, h.err, h.stderr)
	}
}

// running says whether the helper has not exited.
func (h *helperProc) running() bool {
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// waitConnected waits until pid is connected to the surveyor s.
func waitConnected(t *testing.T, s *Surveyor, h *helperProc) {
	t.Helper()
	eventually(t, "the helper to connect", func() bool {
		if !h.running() {
			t.Fatalf("helper %d exited: %v; stderr: %s", h.pid, h.err, h.stderr)
		}
		return slices.Contains(s.Respondents(), h.pid)
	})
}

// TestInteropWorkerProcesses: two ssmv3.Worker processes answer health
// surveys; each terminated by pid exits 0 while the other keeps answering.
func TestInteropWorkerProcesses(t *testing.T) {
	c := listenCore(t, testTimeout)
	a, b := startHelper(t, "worker", c), startHelper(t, "worker", c)
	for _, h := range []*helperProc{a, b} {
		waitConnected(t, c.health, h)
		waitConnected(t, c.term, h)
	}
	ctx := testContext(t)
	t0 := time.Now()
	res, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d >= testTimeout/2 {
		t.Errorf("Health took %v with every worker answering", d)
	}
	for _, h := range []*helperProc{a, b} {
		want := Health{SchemaVersion: 1, Name: "ssm-agent-worker", WorkerType: "LongRunning", Pid: h.pid}
		if res[h.pid] != want {
			t.Errorf("Health[%d] = %+v, want %+v", h.pid, res[h.pid], want)
		}
		if err := c.Probe(ctx, h.pid); err != nil {
			t.Errorf("Probe(%d) = %v", h.pid, err)
		}
	}
	if len(res) != 2 {
		t.Errorf("Health = %v, want the two workers", res)
	}

	if err := c.Terminate(ctx, a.pid); err != nil {
		t.Fatal(err)
	}
	a.waitExit(t)
	if !b.running() {
		t.Fatalf("terminating %d ended %d too", a.pid, b.pid)
	}
	eventually(t, "the terminated worker to leave", func() bool {
		return slices.Equal(c.Respondents(), []int{b.pid}) && slices.Equal(c.term.Respondents(), []int{b.pid})
	})
	if err := c.Probe(ctx, b.pid); err != nil {
		t.Errorf("Probe(%d) after the other's end = %v", b.pid, err)
	}
	if err := c.Probe(ctx, a.pid); err == nil {
		t.Errorf("Probe(%d) passed after it exited", a.pid)
	}
	if err := c.Terminate(ctx, a.pid); err != ErrNotConnected {
		t.Errorf("Terminate of the exited worker = %v, want ErrNotConnected", err)
	}

	if err := c.Terminate(ctx, b.pid); err != nil {
		t.Fatal(err)
	}
	b.waitExit(t)
}

// TestInteropSilentRespondent: a respondent process that reads surveys and
// never answers makes the survey last its deadline, and fails its probe;
// it does not keep the others' answers from counting.
func TestInteropSilentRespondent(t *testing.T) {
	const deadline = 200 * time.Millisecond
	c := listenCore(t, deadline)
	s := startHelper(t, "silent", c)
	waitConnected(t, c.health, s)
	ctx := testContext(t)

	t0 := time.Now()
	res, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < deadline || len(res) != 0 {
		t.Errorf("Health = %v after %v, want nothing at the deadline %v", res, d, deadline)
	}
	if err := c.Probe(ctx, s.pid); err == nil {
		t.Error("Probe of the silent respondent passed")
	}

	serveWorker(t, &Worker{HealthSocket: c.health.Path(), TerminationSocket: c.term.Path()}, nil)
	waitRespondents(t, c.health, 2)
	t0 = time.Now()
	if err := c.Probe(ctx, os.Getpid()); err != nil {
		t.Errorf("Probe of the worker beside the silent one = %v", err)
	}
	if d := time.Since(t0); d < deadline {
		t.Errorf("Probe took %v, before the deadline with one respondent silent", d)
	}
	if !s.running() || !slices.Contains(c.Respondents(), s.pid) {
		t.Error("the silent respondent was dropped")
	}

	// Closing the core ends the helper's reading: it exits 0.
	c.Close()
	s.waitExit(t)
}

// TestInteropHalfFrame: a respondent process that answers with half a
// frame and exits is dropped — the survey stops waiting for it — and the
// core keeps serving the others.
func TestInteropHalfFrame(t *testing.T) {
	c := listenCore(t, testTimeout)
	serveWorker(t, &Worker{HealthSocket: c.health.Path(), TerminationSocket: c.term.Path()}, nil)
	waitRespondents(t, c.health, 1)
	h := startHelper(t, "halfframe", c)
	waitConnected(t, c.health, h)

	ctx := testContext(t)
	t0 := time.Now()
	res, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d >= testTimeout/2 {
		t.Errorf("Health took %v: it waited for the respondent that left", d)
	}
	if _, ok := res[os.Getpid()]; !ok || len(res) != 1 {
		t.Errorf("Health = %v, want the worker's answer alone", res)
	}
	h.waitExit(t)
	eventually(t, "the half-frame respondent to be dropped", func() bool {
		return slices.Equal(c.Respondents(), []int{os.Getpid()})
	})
	for range 3 {
		if err := c.Probe(ctx, os.Getpid()); err != nil {
			t.Errorf("Probe after the drop = %v", err)
		}
	}
}
