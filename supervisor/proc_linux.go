package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
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

// procStat is what the supervisor reads from /proc/<pid>/stat.
type procStat struct {
	state      byte   // R, S, D, Z, T…
	pgid       int    // process group
	startTicks uint64 // start time in clock ticks after boot
}

// readStat parses /proc/<pid>/stat. The command name, field 2, may hold
// spaces and parentheses, so fields are counted from its last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state); field 5 (pgrp) is fields[2]; field 22
	// (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(fields))
	}
	pgid, err1 := strconv.Atoi(fields[2])
	start, err2 := strconv.ParseUint(fields[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return procStat{state: fields[0][0], pgid: pgid, startTicks: start}, nil
}

// bootID identifies the current boot, so that a pid and start time saved
// before a reboot never match a process after it.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// identify returns the identity of a running process.
func identify(pid int) identity {
	id := identity{PID: pid, BootID: bootID()}
	if st, err := readStat(pid); err == nil {
		id.StartTicks = st.startTicks
	}
	return id
}

// running reports whether the process that id names is still running (and
// not a zombie): same pid, same start time, same boot. An identity without
// a start time matches nothing.
func (id identity) running() bool {
	if id.PID <= 1 || id.StartTicks == 0 || id.BootID == "" || id.BootID != bootID() {
		return false
	}
	st, err := readStat(id.PID)
	return err == nil && st.startTicks == id.StartTicks && st.state != 'Z' && st.state != 'X'
}

// leadsGroup reports whether the process leads its own process group, as
// the workers the supervisor starts do; only then is its group killed.
func (id identity) leadsGroup() bool {
	st, err := readStat(id.PID)
	return err == nil && st.pgid == id.PID
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
	if !id.running() {
		return
	}
	err = rc.Read(func(uintptr) bool { return !id.running() })
	if err != nil && !id.running() {
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
		if st, err := readStat(pid); err == nil && st.pgid == pgid && st.state != 'Z' && st.state != 'X' {
			return true
		}
	}
	return false
}
