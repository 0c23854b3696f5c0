package supervisor

import (
	"bytes"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ssmkit/ssmkit/internal/procid"
)

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

// prGetChildSubreaper is prctl's PR_GET_CHILD_SUBREAPER.
const prGetChildSubreaper = 37

// subreaper counts the supervisors serving in this process that made it a
// child subreaper. The attribute belongs to the process, not to a
// supervisor, so this one count is shared: the process stops being a
// subreaper when the last of them returns, unless it was one before.
var subreaper struct {
	sync.Mutex
	users int
	was   bool // the process was a subreaper before the first user
}

// becomeSubreaper makes the calling process a child subreaper: orphaned
// descendants are reparented to it rather than to init, so that it can
// still find and reap them. The returned function undoes it.
func becomeSubreaper() (func(), error) {
	subreaper.Lock()
	defer subreaper.Unlock()
	if subreaper.users == 0 {
		var v int32
		syscall.RawSyscall(syscall.SYS_PRCTL, prGetChildSubreaper, uintptr(unsafe.Pointer(&v)), 0)
		subreaper.was = v != 0
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
			return func() {}, errno
		}
	}
	subreaper.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			subreaper.Lock()
			defer subreaper.Unlock()
			if subreaper.users--; subreaper.users == 0 && !subreaper.was {
				syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
			}
		})
	}, nil
}

// A markedProc is a process that carries a mark.
type markedProc struct {
	pid  int
	mark string
	st   procid.Stat
	uid  int
}

// procPIDs returns the pids in /proc.
func procPIDs() []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// childPIDs returns the pids of this process's children, from the
// children lists of its threads, or, where the kernel has none, every pid.
func childPIDs() []int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return procPIDs()
	}
	var pids []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			return procPIDs()
		}
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// readMark returns the mark in the environment of process pid, or "".
func readMark(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	return markIn(b)
}

// findMarked returns the live processes that carry one of marks.
func findMarked(marks []string) []markedProc {
	var out []markedProc
	self := os.Getpid()
	for _, pid := range procPIDs() {
		if pid == self {
			continue
		}
		m := readMark(pid)
		if m == "" || !slices.Contains(marks, m) {
			continue
		}
		st, err := procid.ReadStat(pid)
		if err != nil || st.State == 'Z' || st.State == 'X' {
			continue
		}
		uid := -1
		if fi, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			uid = int(fi.Sys().(*syscall.Stat_t).Uid)
		}
		out = append(out, markedProc{pid: pid, mark: m, st: st, uid: uid})
	}
	return out
}

// findByMark returns the worker process that carries mark: the one that
// leads its own process group (the supervisor starts workers so) and runs
// as this process's user.
func findByMark(mark string) (identity, bool) {
	for _, p := range findMarked([]string{mark}) {
		if p.st.PGID == p.pid && p.uid == os.Getuid() {
			id := identify(p.pid)
			if id.StartTicks == p.st.StartTicks {
				return id, true
			}
		}
	}
	return identity{}, false
}

// killMarked kills every process that carries one of marks, waits, up to a
// second, for them to be gone, and returns their pids with their start
// times.
func killMarked(marks []string) map[int]uint64 {
	procs := findMarked(marks)
	for _, p := range procs {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(time.Second)
	for _, p := range procs {
		id := identity{PID: p.pid, StartTicks: p.st.StartTicks, BootID: procid.BootID()}
		for step := 100 * time.Microsecond; id.Running() && time.Now().Before(deadline); step = min(2*step, 20*time.Millisecond) {
			time.Sleep(step)
		}
	}
	killed := make(map[int]uint64, len(procs))
	for _, p := range procs {
		killed[p.pid] = p.st.StartTicks
	}
	return killed
}

// scan reaps the orphans of this supervisor's workers that the kernel made
// its children and that have exited, and remembers those still alive. It
// reaps a zombie child only if it was seen alive with one of the
// supervisor's marks, or is in the process group of one of its workers —
// never a child that exec.Cmd waits for, nor anything else the program
// started.
func (r *reaper) scan() {
	r.starting.Lock()
	defer r.starting.Unlock()
	self := os.Getpid()
	r.mu.Lock()
	defer r.mu.Unlock()
	alive := make(map[int]bool)
	for _, pid := range childPIDs() {
		if r.children[pid] {
			continue
		}
		st, err := procid.ReadStat(pid)
		if err != nil || st.PPID != self {
			continue
		}
		if st.State == 'Z' {
			ours := r.all || r.known[pid] == st.StartTicks
			for _, pgid := range r.marks {
				ours = ours || pgid == st.PGID
			}
			if ours {
				// A multithreaded process shows as a zombie before its
				// last thread is gone and it can be waited for: wait for
				// this one pid, which is dying, without WNOHANG.
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
				delete(r.known, pid)
			}
			continue
		}
		if _, ok := r.known[pid]; ok {
			alive[pid] = true
			continue
		}
		if m := readMark(pid); m != "" {
			if _, ok := r.marks[m]; ok {
				r.known[pid] = st.StartTicks
				alive[pid] = true
			}
		}
	}
	for pid := range r.known {
		if !alive[pid] {
			delete(r.known, pid) // gone without us: reaped by someone, or not ours
		}
	}
}

// reapLoop scans at every SIGCHLD, and every scanInterval for orphans not
// seen yet, until done closes.
func (r *reaper) reapLoop(done <-chan struct{}) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	defer signal.Stop(sig)
	t := time.NewTicker(scanInterval)
	defer t.Stop()
	for {
		select {
		case <-sig:
		case <-t.C:
		case <-done:
			return
		}
		r.scan()
	}
}

// scanInterval is how often the supervisor looks for orphans it has not
// been told about.
const scanInterval = 10 * time.Second
