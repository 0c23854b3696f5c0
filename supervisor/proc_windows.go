package supervisor

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// On Windows a worker starts in a new process group, and is stopped with
// taskkill: /T takes its whole process tree, /F forces. There are no
// signals: a plain worker that ignores taskkill's request is killed at the
// stop timeout; a workerproto worker is asked to terminate through the
// protocol first.

func sysProcAttr(*Spec) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

func terminateProcess(pid int) error {
	return exec.Command("taskkill", "/T", "/PID", strconv.Itoa(pid)).Run()
}

func killGroup(pid int) error {
	exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(pid)).Run()
	return nil
}

func killProcess(pid int) error {
	return exec.Command("taskkill", "/F", "/PID", strconv.Itoa(pid)).Run()
}

// waitGroupGone does nothing: taskkill /T /F has waited already.
func waitGroupGone(int, time.Duration) {}

func signalName(*os.ProcessState) string { return "" }
