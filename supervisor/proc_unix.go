//go:build unix

package supervisor

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// terminateProcess sends SIGTERM to the process alone: the worker decides
// how to stop its own children.
func terminateProcess(pid int) error {
	return ignoreGone(syscall.Kill(pid, syscall.SIGTERM))
}

// killGroup kills the whole process group led by pid. Workers are started
// as group leaders, so this takes their children too.
func killGroup(pid int) error {
	if pid <= 1 {
		return errors.New("supervisor: refusing to kill process group of pid <= 1")
	}
	return ignoreGone(syscall.Kill(-pid, syscall.SIGKILL))
}

// waitGroupGone waits up to timeout until no process of group pgid is left.
// Killed processes take a moment to die; the wait is in short steps.
func waitGroupGone(pgid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for step := 100 * time.Microsecond; groupAlive(pgid) && time.Now().Before(deadline); step = min(2*step, 50*time.Millisecond) {
		time.Sleep(step)
	}
}

// killProcess kills one process.
func killProcess(pid int) error {
	return ignoreGone(syscall.Kill(pid, syscall.SIGKILL))
}

func ignoreGone(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// signalName returns the name of the signal that killed a process, or "".
func signalName(ps *os.ProcessState) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return ""
}
