//go:build linux

package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/internal/procid"
	"github.com/ssmkit/ssmkit/workerproto"
)

// helperDaemonize starts a child in a session of its own, which starts a
// grandchild in another session and exits: the double fork of a daemon.
// The grandchild's pid goes to the pid file; then it sleeps.
func helperDaemonize() int {
	pidFile := os.Getenv(pidFileEnv)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=daemon-mid", pidFileEnv+"="+pidFile+".mid", "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		return 2
	}
	// The middle process is reaped: only now does the test go on.
	if err := os.Rename(pidFile+".mid", pidFile); err != nil {
		return 2
	}
	select {}
}

func helperDaemonMid() int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=sleep")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 2
	}
	os.WriteFile(os.Getenv(pidFileEnv), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
	return 0
}

// noProc reports whether there is no process pid at all, not even a zombie.
func noProc(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err != nil
}

// TestSetsidDescendantsGone: a worker's daemon (setsid, double fork) is
// reparented to the supervisor, killed at the stop and reaped: after Serve
// returns there is no process and no zombie left.
func TestSetsidDescendantsGone(t *testing.T) {
	for _, noSub := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoSubreaper=%v", noSub), func(t *testing.T) {
			pidFile := filepath.Join(privateDir(t), "pid")
			sv := serve(t, Config{NoSubreaper: noSub}, helperSpec("daemon", "daemonize", pidFileEnv+"="+pidFile))
			var pid int
			deadline := time.Now().Add(testTimeout)
			for pid == 0 {
				b, _ := os.ReadFile(pidFile)
				pid, _ = strconv.Atoi(string(b))
				if time.Now().After(deadline) {
					t.Fatal("no daemon pid")
				}
				time.Sleep(5 * time.Millisecond) // polling a file, with a deadline
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			// Its parent has exited: it belongs to the subreaper now.
			for {
				st, err := procid.ReadStat(pid)
				if err != nil {
					t.Fatal(err)
				}
				if !noSub && st.PPID == os.Getpid() || noSub && st.PPID != os.Getpid() && st.PPID > 0 {
					if st.PGID == pid {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("daemon %d: parent %d, group %d", pid, st.PPID, st.PGID)
				}
				time.Sleep(time.Millisecond)
			}
			sv.stop(t)
			if !noSub && !noProc(pid) {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
				t.Fatalf("daemon %d still exists after Serve returned: %s", pid, b)
			}
			if noSub && !gone(pid) {
				t.Fatalf("daemon %d still runs after Serve returned", pid)
			}
		})
	}
}

// markedCount counts the running processes that carry both a supervisor
// mark and tag, and lead their process group: the copies of the worker.
func markedCount(t *testing.T, tag string) []int {
	t.Helper()
	var pids []int
	for _, pid := range procPIDs() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil || !bytes.Contains(b, []byte("\x00"+tagEnv+"="+tag+"\x00")) || readMark(pid) == "" {
			continue
		}
		if st, err := procid.ReadStat(pid); err == nil && st.PGID == pid && st.State != 'Z' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestCoreKillsNeverLeaveTwoCopies kills a core 100 times (50 for a
// workerproto worker) at a random moment 0–20 ms after it begins to serve;
// there is never more than one copy of its worker, and the last core stops
// the one there is.
func TestCoreKillsNeverLeaveTwoCopies(t *testing.T) {
	t.Run("plain", func(t *testing.T) { coreKills(t, "sleep", 100) })
	t.Run("workerproto", func(t *testing.T) { coreKills(t, "workerproto", 50) })
}

func coreKills(t *testing.T, mode string, kills int) {
	dir := privateDir(t)
	stateDir := filepath.Join(dir, "state")
	tag := strconv.FormatUint(rand.Uint64(), 36)
	env := []string{helperEnv + "=outcore", outStateEnv + "=" + stateDir, outWorkerEnv + "=" + mode, tagEnv + "=" + tag, outStopEnv + "=1"}
	if mode == "workerproto" {
		env = append(env, outSocketEnv+"="+filepath.Join(dir, "ipc", "core.sock"))
	}
	t.Cleanup(func() {
		for _, pid := range markedCount(t, tag) {
			killGroup(pid)
		}
	})
	startCore := func() (*exec.Cmd, *bufio.Reader) {
		core := exec.Command(os.Args[0], "-test.run=^$")
		core.Env = append(append(os.Environ(), env...), outUpEnv+"=1")
		core.Stderr = os.Stderr
		out, err := core.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := core.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		if line, err := r.ReadString('\n'); err != nil || line != "up\n" {
			core.Process.Kill()
			core.Wait()
			t.Fatalf("core: %q %v", line, err)
		}
		return core, r
	}
	most := 0
	for i := range kills {
		core, _ := startCore()
		time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond) // the random moment is the test
		core.Process.Kill()
		core.Wait()
		n := len(markedCount(t, tag))
		most = max(most, n)
		if n > 1 {
			t.Fatalf("kill %d: %d copies of the worker run: %v", i, n, markedCount(t, tag))
		}
	}
	core, r := startCore()
	line, err := r.ReadString('\n')
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid == 0 {
		t.Fatalf("core: %q %v", line, err)
	}
	if got := markedCount(t, tag); len(got) != 1 || got[0] != pid {
		t.Errorf("copies %v, want the one the core runs, %d", got, pid)
	}
	core.Process.Signal(syscall.SIGTERM)
	core.Wait()
	if got := markedCount(t, tag); len(got) != 0 {
		t.Errorf("copies left after the core stopped: %v", got)
	}
	t.Logf("%d core kills: at most %d copy of the %s worker at any time", kills, most, mode)
}

// TestIntentAdoptsTheForkedCopy plays a core killed between the fork and
// the record of the pid: the state holds only the intent and the mark, and
// a process carrying the mark runs. The next core adopts that process
// rather than start a second copy; an intent whose fork never happened
// starts the worker afresh.
func TestIntentAdoptsTheForkedCopy(t *testing.T) {
	stateDir := filepath.Join(privateDir(t), "state")
	os.MkdirAll(stateDir, 0o700)
	spec := helperSpec("w", "sleep")
	mark, _ := newMark()
	s0, _ := New(Config{StateDir: stateDir})
	if err := s0.saveIntent(&spec, mark, workerproto.Secret{}); err != nil {
		t.Fatal(err)
	}
	orphan := exec.Command(spec.Path, spec.Args...)
	orphan.Env = markedEnv(append(os.Environ(), spec.Env...), mark)
	orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { orphan.Process.Kill(); orphan.Wait() })
	// Wait until it has exec'd: its environment carries the mark.
	deadline := time.Now().Add(testTimeout)
	for readMark(orphan.Process.Pid) != mark {
		if time.Now().After(deadline) {
			t.Fatal("the orphan never carried its mark")
		}
		time.Sleep(time.Millisecond)
	}

	sv := serve(t, Config{StateDir: stateDir}, spec)
	from := 0
	e := sv.rec.waitFor(t, &from, EventAdopted, nil)
	if e.PID != orphan.Process.Pid {
		t.Fatalf("adopted %d, want the forked copy %d", e.PID, orphan.Process.Pid)
	}
	if n := sv.rec.count(EventStarted); n != 0 {
		t.Fatalf("%d copies started beside the adopted one", n)
	}
	st, err := sv.loadState("w")
	if err != nil || st.Process.PID != orphan.Process.Pid || st.Mark != mark {
		t.Fatalf("state after adoption: %+v, %v", st, err)
	}
	sv.stop(t)

	// An intent without a process: the worker is started.
	if err := s0.saveIntent(&spec, mark, workerproto.Secret{}); err != nil {
		t.Fatal(err)
	}
	sv2 := serve(t, Config{StateDir: stateDir}, spec)
	from = 0
	sv2.rec.waitFor(t, &from, EventStarted, nil)
	if n := sv2.rec.count(EventAdopted); n != 0 {
		t.Fatalf("adopted %d processes from an intent without one", n)
	}
}
