//go:build linux

package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

func noBackoff(s Spec) Spec {
	s.Backoff.Initial = -1
	s.Intensity.MaxFailures = -1
	return s
}

func TestRestartsOnExit(t *testing.T) {
	spec := noBackoff(helperSpec("crasher", "exit", exitEnv+"=3", stderrEnv+"=boom: out of cheese\n"))
	sv := serve(t, Config{}, spec)
	from := 0
	var pids []int
	for range 3 {
		started := sv.rec.waitFor(t, &from, EventStarted, nil)
		exited := sv.rec.waitFor(t, &from, EventExited, nil)
		if exited.PID != started.PID || exited.Exit.Code != 3 || exited.Exit.StderrTail != "boom: out of cheese\n" {
			t.Fatalf("exited %+v (exit %+v) after started pid %d", exited, exited.Exit, started.PID)
		}
		sv.rec.waitFor(t, &from, EventRestarting, func(e Event) bool { return e.Delay == 0 })
		pids = append(pids, started.PID)
	}
	if pids[0] == pids[1] || pids[1] == pids[2] {
		t.Errorf("restarts reused pids %v", pids)
	}
	if st := sv.status(t, "crasher"); st.Restarts < 2 || st.LastExit == nil || st.LastExit.Code != 3 {
		t.Errorf("status %+v", st)
	}
}

func TestExitSeenAtOnce(t *testing.T) {
	sv := serve(t, Config{}, noBackoff(helperSpec("sleeper", "sleep")))
	from := 0
	first := sv.rec.waitFor(t, &from, EventStarted, nil)
	killedAt := time.Now()
	syscall.Kill(first.PID, syscall.SIGKILL)
	exited := sv.rec.waitFor(t, &from, EventExited, nil)
	second := sv.rec.waitFor(t, &from, EventStarted, nil)
	if exited.Exit.Signal != "killed" || exited.Exit.Code != -1 {
		t.Errorf("exit %v, want signal: killed", exited.Exit)
	}
	// No polling: the exit is seen as it happens, not at a next tick.
	if d := exited.Time.Sub(killedAt); d > time.Second {
		t.Errorf("exit seen %v after the kill", d)
	}
	if second.PID == first.PID {
		t.Error("not restarted")
	}
}

func TestGivesUpAndStartsAgain(t *testing.T) {
	spec := helperSpec("loop", "exit", exitEnv+"=1", stderrEnv+"=fatal: config missing\n")
	spec.Backoff.Initial = -1
	spec.Intensity.MaxFailures = 2
	sv := serve(t, Config{}, spec)
	from := 0
	gave := sv.rec.waitFor(t, &from, EventGaveUp, nil)
	if gave.Exit == nil || gave.Exit.Code != 1 || !strings.Contains(gave.Exit.StderrTail, "config missing") {
		t.Fatalf("gave up with %+v", gave.Exit)
	}
	if n := sv.rec.count(EventStarted); n != 3 {
		t.Errorf("started %d times before giving up, want 3", n)
	}
	st := sv.status(t, "loop")
	if st.State != StateFailed || st.LastExit.Code != 1 || !strings.Contains(st.LastExit.StderrTail, "config missing") {
		t.Errorf("status %+v", st)
	}
	if err := sv.Start(testCtx(t), "loop"); err != nil {
		t.Fatal(err)
	}
	sv.rec.waitFor(t, &from, EventStarted, nil)
	sv.rec.waitFor(t, &from, EventGaveUp, nil) // the failure count started over
}

func TestPermanentExitCode(t *testing.T) {
	spec := noBackoff(helperSpec("reboot", "exit", exitEnv+"=194"))
	spec.PermanentExitCodes = []int{194}
	sv := serve(t, Config{}, spec)
	from := 0
	stopped := sv.rec.waitFor(t, &from, EventStopped, nil)
	if stopped.Reason != "permanent exit status 194" {
		t.Errorf("stopped: %q", stopped.Reason)
	}
	if n := sv.rec.count(EventStarted); n != 1 {
		t.Errorf("started %d times", n)
	}
	if st := sv.status(t, "reboot"); st.State != StateStopped || st.LastExit.Code != 194 {
		t.Errorf("status %+v", st)
	}
}

func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		policy  Policy
		code    string
		restart bool
	}{
		{RestartNever, "1", false},
		{RestartOnFailure, "0", false},
		{RestartOnFailure, "1", true},
		{RestartAlways, "0", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy)+"-"+tt.code, func(t *testing.T) {
			spec := noBackoff(helperSpec("w", "exit", exitEnv+"="+tt.code))
			spec.Restart = tt.policy
			sv := serve(t, Config{}, spec)
			from := 0
			sv.rec.waitFor(t, &from, EventExited, nil)
			if tt.restart {
				sv.rec.waitFor(t, &from, EventStarted, nil)
				return
			}
			sv.rec.waitFor(t, &from, EventStopped, nil)
			if sv.rec.count(EventStarted) != 1 {
				t.Error("restarted")
			}
		})
	}
}

func workerprotoSpec(name string) Spec {
	spec := helperSpec(name, "workerproto")
	spec.Protocol = ProtocolWorkerproto
	spec.HealthInterval = 50 * time.Millisecond
	spec.HealthTimeout = 50 * time.Millisecond
	spec.Backoff.Initial = -1
	return spec
}

func TestWorkerprotoReadyPingsAndEvents(t *testing.T) {
	_, socket := stateDirSocket(t)
	events := make(chan string, 10)
	sv := serve(t, Config{Socket: socket, OnWorkerEvent: func(worker string, e workerproto.Event) error {
		events <- worker + " " + e.Name
		return nil
	}}, workerprotoSpec("agent-worker"))
	from := 0
	started := sv.rec.waitFor(t, &from, EventStarted, nil)
	ready := sv.rec.waitFor(t, &from, EventReady, nil)
	if ready.PID != started.PID || ready.StartupTime <= 0 || ready.StartupTime > testTimeout {
		t.Errorf("ready %+v", ready)
	}
	select {
	case e := <-events:
		if e != "agent-worker helper.start" {
			t.Errorf("worker event %q", e)
		}
	case <-time.After(testTimeout):
		t.Fatal("no worker event")
	}
	// Wait for a ping to be answered.
	deadline := time.Now().Add(testTimeout)
	for sv.status(t, "agent-worker").LastPing == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no ping answered")
		}
		<-time.After(10 * time.Millisecond)
	}
	st := sv.status(t, "agent-worker")
	if st.State != StateRunning || !st.Ready || st.PID != started.PID || st.MissedPings != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestStoppedWorkerIsReplaced(t *testing.T) {
	_, socket := stateDirSocket(t)
	sv := serve(t, Config{Socket: socket}, workerprotoSpec("w"))
	from := 0
	first := sv.rec.waitFor(t, &from, EventReady, nil)
	syscall.Kill(first.PID, syscall.SIGSTOP) // still in the process table, answers nothing
	un := sv.rec.waitFor(t, &from, EventUnresponsive, nil)
	if un.PID != first.PID || !strings.Contains(un.Reason, "3 pings in a row missed") {
		t.Errorf("unresponsive %+v", un)
	}
	exited := sv.rec.waitFor(t, &from, EventExited, nil)
	if exited.Exit.Signal != "killed" || !strings.HasPrefix(exited.Reason, "unresponsive") {
		t.Errorf("exited %+v %v", exited, exited.Exit)
	}
	second := sv.rec.waitFor(t, &from, EventReady, nil)
	if second.PID == first.PID {
		t.Error("not replaced")
	}
	if !gone(first.PID) {
		t.Errorf("the stopped worker %d still exists", first.PID)
	}
}

func TestGracefulStop(t *testing.T) {
	_, socket := stateDirSocket(t)
	spec := workerprotoSpec("w")
	spec.StopTimeout = 30 * time.Second
	sv := serve(t, Config{Socket: socket}, spec)
	from := 0
	ready := sv.rec.waitFor(t, &from, EventReady, nil)
	start := time.Now()
	if err := sv.Stop(testCtx(t), "w"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a terminate took %v: the stop timeout was waited out", d)
	}
	sv.rec.waitFor(t, &from, EventStopped, nil)
	st := sv.status(t, "w")
	if st.State != StateStopped || st.LastExit == nil || !st.LastExit.Success() || st.PID != 0 {
		t.Errorf("status %+v exit %v; want stopped after a clean exit", st, st.LastExit)
	}
	if !gone(ready.PID) {
		t.Error("process still there")
	}
	// It stays stopped until started.
	if err := sv.Start(testCtx(t), "w"); err != nil {
		t.Fatal(err)
	}
	sv.rec.waitFor(t, &from, EventReady, nil)
}

func TestStopEscalatesToKill(t *testing.T) {
	spec := helperSpec("stubborn", "ignore-term")
	spec.StopTimeout = 300 * time.Millisecond
	ignoring := newFirstWrite()
	spec.Stdout = ignoring
	sv := serve(t, Config{}, spec)
	from := 0
	started := sv.rec.waitFor(t, &from, EventStarted, nil)
	ignoring.wait(t)
	start := time.Now()
	if err := sv.Stop(testCtx(t), "stubborn"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("stopped after %v, before the stop timeout", d)
	}
	if st := sv.status(t, "stubborn"); st.LastExit == nil || st.LastExit.Signal != "killed" {
		t.Errorf("last exit %v, want killed", st.LastExit)
	}
	if !gone(started.PID) {
		t.Error("process still there")
	}
}

func TestStopKillsGrandchildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	spec := helperSpec("parent", "grandchildren", pidFileEnv+"="+pidFile)
	spec.StopTimeout = time.Second
	sv := serve(t, Config{}, spec)
	from := 0
	started := sv.rec.waitFor(t, &from, EventStarted, nil)
	var pids []int
	deadline := time.Now().Add(testTimeout)
	for len(pids) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no grandchildren recorded")
		}
		b, _ := os.ReadFile(pidFile)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
		if len(pids) < 2 {
			<-time.After(10 * time.Millisecond)
		}
	}
	sv.stop(t)
	for _, pid := range append(pids, started.PID) {
		if !gone(pid) {
			t.Errorf("process %d left after Serve returned", pid)
		}
	}
}

func TestFloodedOutputIsRotated(t *testing.T) {
	dir := t.TempDir()
	out := &RotatingFile{Path: filepath.Join(dir, "out.log"), MaxBytes: 1 << 20, Keep: 2}
	spec := helperSpec("flood", "flood")
	spec.Stdout = out
	spec.Restart = RestartNever
	sv := serve(t, Config{}, spec)
	from := 0
	exited := sv.rec.waitFor(t, &from, EventExited, nil)
	if !exited.Exit.Success() {
		t.Fatalf("flooding worker: %v", exited.Exit)
	}
	sv.stop(t)
	out.Close()
	entries, _ := os.ReadDir(dir)
	var total int64
	for _, e := range entries {
		fi, _ := e.Info()
		if fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over the limit", e.Name(), fi.Size())
		}
		total += fi.Size()
	}
	if len(entries) != 3 || total != 3<<20 {
		t.Errorf("%d files, %d bytes; want out.log and 2 rotations holding the last 3 MiB", len(entries), total)
	}
}

// TestManyKillsLeaveNothing kills a worker 200 times in a row: no zombie
// and no file descriptor may be left in the core.
func TestManyKillsLeaveNothing(t *testing.T) {
	fdsBefore := countFDs(t)
	sv := serve(t, Config{}, noBackoff(helperSpec("victim", "sleep")))
	from := 0
	for range 200 {
		e := sv.rec.waitFor(t, &from, EventStarted, nil)
		syscall.Kill(e.PID, syscall.SIGKILL)
		sv.rec.waitFor(t, &from, EventExited, nil)
	}
	sv.rec.waitFor(t, &from, EventStarted, nil)
	sv.stop(t)
	if z := zombieChildren(t); len(z) > 0 {
		t.Errorf("zombie children: %v", z)
	}
	if after := countFDs(t); after > fdsBefore+2 {
		t.Errorf("file descriptors: %d before, %d after", fdsBefore, after)
	}
}

func countFDs(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// zombieChildren lists this process's children that are zombies.
func zombieChildren(t testing.TB) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			out = append(out, pid)
		}
	}
	return out
}

func TestAddRemoveConcurrently(t *testing.T) {
	sv := serve(t, Config{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "w" + strconv.Itoa(i)
			if err := sv.Add(helperSpec(name, "sleep")); err != nil {
				t.Error(err)
				return
			}
			sv.Status()
			if err := sv.Remove(testCtx(t), name); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(sv.Status()); n != 0 {
		t.Errorf("%d workers left", n)
	}
	if err := sv.Remove(testCtx(t), "nope"); !errors.Is(err, ErrUnknownWorker) {
		t.Errorf("Remove(nope) = %v", err)
	}
	if err := sv.Add(helperSpec("dup", "sleep")); err != nil {
		t.Fatal(err)
	}
	if err := sv.Add(helperSpec("dup", "sleep")); err == nil {
		t.Error("a second worker of the same name was added")
	}
}

func TestStartFailure(t *testing.T) {
	spec := Spec{Name: "missing", Path: "/nonexistent/worker", Backoff: Backoff{Initial: -1}, Intensity: Intensity{MaxFailures: 1}}
	sv := serve(t, Config{}, spec)
	from := 0
	e := sv.rec.waitFor(t, &from, EventExited, nil)
	if !strings.Contains(e.Reason, "start failed") || !strings.Contains(e.Reason, "/nonexistent/worker") {
		t.Errorf("reason %q", e.Reason)
	}
	sv.rec.waitFor(t, &from, EventGaveUp, nil)
}
