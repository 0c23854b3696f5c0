package supervisor

import (
	"os"
	"strconv"
	"syscall"

	"github.com/ssmkit/ssmkit/internal/procid"
)

func sysProcAttr(spec *Spec) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if spec.DieWithCore {
		// The signal is sent when the thread that started the worker ends;
		// Go keeps its threads, so in practice when the core dies.
		attr.Pdeathsig = syscall.SIGKILL
	}
	return attr
}

// waitGone blocks until the process that id names is gone or stop is
// called. It uses a pidfd, which the kernel makes readable when the process
// exits; where pidfds are missing it checks every poll interval.
func waitGone(id identity, stop <-chan struct{}) {
	const pidfdNonblock = syscall.O_NONBLOCK
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(id.PID), pidfdNonblock, 0)
	if errno != 0 {
		pollGone(id, stop)
		return
	}
	f := os.NewFile(fd, "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		pollGone(id, stop)
		return
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-stop:
			f.SetReadDeadline(pastDeadline) // wakes the Read below
		case <-done:
		}
	}()
	defer close(done)
	if !id.Running() {
		return
	}
	err = rc.Read(func(uintptr) bool { return !id.Running() })
	if err != nil && !id.Running() {
		return
	}
	if err != nil { // no poller for this descriptor: fall back
		select {
		case <-stop:
		default:
			pollGone(id, stop)
		}
	}
}

// sysPidfdOpen is pidfd_open(2), the same number on every Linux architecture.
const sysPidfdOpen = 434

// groupAlive reports whether a process of group pgid runs. Zombies do not
// count: they are dead, waiting for a parent that may never reap them.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procid.ReadStat(pid); err == nil && st.PGID == pgid && st.State != 'Z' && st.State != 'X' {
			return true
		}
	}
	return false
}

// processExecutable returns the path of the executable process pid runs,
// as the kernel has it: the file it was started from, with " (deleted)"
// appended if that file has since been removed or replaced by a rename.
func processExecutable(pid int) (string, error) {
	return os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
}
