package procid

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

var osGetpid = os.Getpid

// A Stat is what is read from /proc/<pid>/stat.
type Stat struct {
	State      byte   // R, S, D, Z, T…
	PPID       int    // parent
	PGID       int    // process group
	StartTicks uint64 // start time in clock ticks after boot
}

// ReadStat parses /proc/<pid>/stat. The command name, field 2, may hold
// spaces and parentheses, so fields are counted from its last ')'.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state); field 5 (pgrp) is fields[2]; field 22
	// (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(fields))
	}
	ppid, err0 := strconv.Atoi(fields[1])
	pgid, err1 := strconv.Atoi(fields[2])
	start, err2 := strconv.ParseUint(fields[19], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return Stat{State: fields[0][0], PPID: ppid, PGID: pgid, StartTicks: start}, nil
}

// BootID returns the current boot's id.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Of returns the ID of a running process.
func Of(pid int) ID {
	id := ID{PID: pid, BootID: BootID()}
	if st, err := ReadStat(pid); err == nil {
		id.StartTicks = st.StartTicks
	}
	return id
}

// Running reports whether the process id names still runs (and is not a
// zombie): same pid, same start time, same boot. An ID without a start
// time matches nothing.
func (id ID) Running() bool {
	if id.PID <= 1 || id.StartTicks == 0 || id.BootID == "" || id.BootID != BootID() {
		return false
	}
	st, err := ReadStat(id.PID)
	return err == nil && st.StartTicks == id.StartTicks && st.State != 'Z' && st.State != 'X'
}

// LeadsGroup reports whether the process leads its own process group.
func (id ID) LeadsGroup() bool {
	st, err := ReadStat(id.PID)
	return err == nil && st.PGID == id.PID
}
