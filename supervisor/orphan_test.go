//go:build linux

package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	coreStateEnv  = "CORE_STATE_DIR"
	coreSocketEnv = "CORE_SOCKET"
	coreDieEnv    = "CORE_DIE_WITH_CORE"
)

// helperCore is a core in its own process, for tests that kill it: it
// supervises one workerproto worker and prints the worker's pid once the
// worker is ready.
func helperCore() int {
	spec := workerprotoSpec("orphan")
	spec.DieWithCore = os.Getenv(coreDieEnv) != ""
	s, err := New(Config{
		StateDir: os.Getenv(coreStateEnv),
		Socket:   os.Getenv(coreSocketEnv),
		OnEvent: func(e Event) {
			if e.Kind == EventReady {
				fmt.Println(e.PID)
			}
		},
	})
	if err == nil {
		err = s.Add(spec)
	}
	if err == nil {
		err = s.Serve(context.Background())
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// killedCore runs a core process until its worker is ready, kills the
// core with SIGKILL and returns the pid of the worker it left running.
func killedCore(t *testing.T, stateDir, socket string, env ...string) int {
	t.Helper()
	core := exec.Command(os.Args[0], "-test.run=^$")
	core.Env = append(os.Environ(), helperEnv+"=core", coreStateEnv+"="+stateDir, coreSocketEnv+"="+socket)
	core.Env = append(core.Env, env...)
	core.Stderr = os.Stderr
	out, err := core.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		core.Process.Kill()
		core.Wait()
		t.Fatalf("reading the worker's pid from the core: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	core.Process.Kill()
	core.Wait()
	t.Cleanup(func() { killGroup(pid) })
	return pid
}

func TestDieWithCore(t *testing.T) {
	stateDir, socket := stateDirSocket(t)
	pid := killedCore(t, stateDir, socket, coreDieEnv+"=1")
	waitGoneT(t, pid) // the kernel killed it with its core
}

func TestOrphanAdoptedAfterCoreKilled(t *testing.T) {
	stateDir, socket := stateDirSocket(t)
	pid := killedCore(t, stateDir, socket)
	if gone(pid) {
		t.Fatal("the worker died with its core")
	}

	sv := serve(t, Config{StateDir: stateDir, Socket: socket}, workerprotoSpec("orphan"))
	from := 0
	adopted := sv.rec.waitFor(t, &from, EventAdopted, nil)
	if adopted.PID != pid || !adopted.Orphan {
		t.Fatalf("adopted %+v, want pid %d", adopted, pid)
	}
	ready := sv.rec.waitFor(t, &from, EventReady, nil) // it redialled the new core
	if ready.PID != pid {
		t.Fatalf("ready %+v", ready)
	}
	if st := sv.status(t, "orphan"); !st.Adopted || st.PID != pid || st.State != StateRunning {
		t.Errorf("status %+v", st)
	}
	if n := sv.rec.count(EventStarted); n != 0 {
		t.Fatalf("started %d new workers next to the adopted one", n)
	}
	sv.stop(t)
	if !gone(pid) {
		t.Error("the adopted worker survived Serve")
	}
	if _, err := os.Stat(filepath.Join(stateDir, "orphan.json")); !os.IsNotExist(err) {
		t.Errorf("state file left after a clean stop: %v", err)
	}
}

func TestOrphanStoppedPerPolicy(t *testing.T) {
	stateDir, socket := stateDirSocket(t)
	pid := killedCore(t, stateDir, socket)

	spec := workerprotoSpec("orphan")
	spec.Orphans = OrphanStop
	sv := serve(t, Config{StateDir: stateDir, Socket: socket}, spec)
	from := 0
	stopped := sv.rec.waitFor(t, &from, EventStopped, nil)
	if stopped.PID != pid || !stopped.Orphan {
		t.Fatalf("stopped %+v, want the orphan %d", stopped, pid)
	}
	if !gone(pid) {
		t.Fatal("the orphan still runs")
	}
	started := sv.rec.waitFor(t, &from, EventStarted, nil)
	if started.PID == pid {
		t.Fatal("no new worker")
	}
	sv.rec.waitFor(t, &from, EventReady, nil)
	if sv.rec.count(EventAdopted) != 0 {
		t.Error("adopted despite the stop policy")
	}
}

func TestStaleStateIsIgnored(t *testing.T) {
	stateDir, _ := stateDirSocket(t)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// An unrelated process now has the pid the state file names.
	other := exec.Command(os.Args[0], "-test.run=^$")
	other.Env = append(os.Environ(), helperEnv+"=sleep")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	id := identify(other.Process.Pid)
	id.StartTicks++ // the process the state file meant started at another time
	b, _ := json.Marshal(workerState{Version: stateVersion, Name: "w", Path: "x", Process: id})
	os.WriteFile(filepath.Join(stateDir, "w.json"), b, 0o600)
	os.WriteFile(filepath.Join(stateDir, "broken.json"), []byte("{not json"), 0o600)

	sv := serve(t, Config{StateDir: stateDir}, helperSpec("w", "sleep"), helperSpec("broken", "sleep"))
	from := 0
	for range 2 {
		started := sv.rec.waitFor(t, &from, EventStarted, nil)
		if started.PID == other.Process.Pid {
			t.Fatal("started worker has the unrelated pid")
		}
	}
	if sv.rec.count(EventAdopted) != 0 || sv.rec.count(EventStopped) != 0 {
		t.Fatalf("acted on a stale state: %v", sv.rec.all())
	}
	if gone(other.Process.Pid) {
		t.Fatal("the unrelated process was killed")
	}
	var st workerState
	b, err := os.ReadFile(filepath.Join(stateDir, "w.json"))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Process.PID == other.Process.Pid {
		t.Errorf("state file not replaced by the new worker's: %s, %v", b, err)
	}
}

// TestDetachAndAdopt: a supervisor that detaches leaves its worker running,
// and the next one adopts it without a restart.
func TestDetachAndAdopt(t *testing.T) {
	stateDir, socket := stateDirSocket(t)
	first := serve(t, Config{StateDir: stateDir, Socket: socket}, workerprotoSpec("w"))
	from := 0
	ready := first.rec.waitFor(t, &from, EventReady, nil)
	first.Detach()
	first.stop(t)
	if gone(ready.PID) {
		t.Fatal("the worker stopped with a detached supervisor")
	}
	t.Cleanup(func() { killGroup(ready.PID) })
	second := serve(t, Config{StateDir: stateDir, Socket: socket}, workerprotoSpec("w"))
	from = 0
	if a := second.rec.waitFor(t, &from, EventAdopted, nil); a.PID != ready.PID {
		t.Fatalf("adopted %d, want %d", a.PID, ready.PID)
	}
	second.rec.waitFor(t, &from, EventConnected, nil)
	if err := second.Restart(testCtx(t), "w"); err != nil {
		t.Fatal(err)
	}
	if st := second.rec.waitFor(t, &from, EventStarted, nil); st.PID == ready.PID {
		t.Error("Restart did not start a new process")
	}
	if !gone(ready.PID) {
		t.Error("the old process survived Restart")
	}
}
