package supervisor

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// MarkEnv is the environment variable through which the supervisor marks
// every process it starts with a random token of that start (128 bits, in
// hexadecimal). Its descendants inherit the mark unless they clear their
// environment, and on Linux the supervisor finds them by it in
// /proc/<pid>/environ: the copy of a worker that a core started just before
// it crashed (the state file records the mark before the fork), and the
// descendants of a worker that left its process group or session, which are
// killed when the worker stops. A mark in the supervisor's own environment
// is not passed on.
const MarkEnv = "SSMKIT_SUPERVISOR_MARK"

// newMark returns a new random mark.
func newMark() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("supervisor: new mark: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validMark reports whether m looks like a mark newMark makes.
func validMark(m string) bool {
	if len(m) != 32 {
		return false
	}
	_, err := hex.DecodeString(m)
	return err == nil
}

// markIn returns the mark in an environment block as /proc/<pid>/environ
// holds it (NUL-separated KEY=value entries), or "".
func markIn(environ []byte) string {
	key := []byte(MarkEnv + "=")
	for len(environ) > 0 {
		var kv []byte
		kv, environ, _ = bytes.Cut(environ, []byte{0})
		if v, ok := bytes.CutPrefix(kv, key); ok {
			if m := string(v); validMark(m) {
				return m
			}
			return ""
		}
	}
	return ""
}

// markedEnv returns env without any mark, then mark's.
func markedEnv(env []string, mark string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, MarkEnv+"=") {
			out = append(out, kv)
		}
	}
	if mark != "" {
		out = append(out, MarkEnv+"="+mark)
	}
	return out
}

// A reaper keeps track of the processes of one supervisor beyond its
// children: the marks it gave out, the orphans of its workers that the
// kernel made its children (it is a child subreaper on Linux), and the
// children that exec.Cmd waits for, which it must never reap itself.
type reaper struct {
	// starting is held for reading across each start, from fork to the
	// record of the child, and for writing by scans, so that a scan never
	// takes a child just started for an orphan.
	starting sync.RWMutex

	mu       sync.Mutex
	children map[int]bool   // started by exec.Cmd, not yet waited for
	marks    map[string]int // mark → process group of the worker that had it
	known    map[int]uint64 // orphans of ours seen alive: pid → start ticks
	all      bool           // Config.ReapAll: every zombie child not a worker's
}

func newReaper(all bool) *reaper {
	return &reaper{children: make(map[int]bool), marks: make(map[string]int), known: make(map[int]uint64), all: all}
}

// startChild starts cmd and records it as a child that exec.Cmd waits for.
func (r *reaper) startChild(cmd *exec.Cmd) error {
	if r == nil {
		return cmd.Start()
	}
	r.starting.RLock()
	defer r.starting.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.addChild(cmd.Process.Pid)
	return nil
}

func (r *reaper) addChild(pid int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.children[pid] = true
	r.mu.Unlock()
}

func (r *reaper) removeChild(pid int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.children, pid)
	r.mu.Unlock()
}

func (r *reaper) addMark(mark string, pgid int) {
	if r == nil || mark == "" {
		return
	}
	r.mu.Lock()
	r.marks[mark] = pgid
	r.mu.Unlock()
}

// allMarks returns every mark still tracked.
func (r *reaper) allMarks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.marks))
	for m := range r.marks {
		out = append(out, m)
	}
	return out
}

// sweep kills every process that carries one of marks, wherever it is in
// the process tree, reaps those that were orphans of ours, and forgets the
// marks.
func (r *reaper) sweep(marks ...string) {
	if r == nil || len(marks) == 0 {
		return
	}
	killed := killMarked(marks)
	r.mu.Lock()
	for pid, start := range killed {
		r.known[pid] = start // ours: reaped below if the kernel gave them to us
	}
	r.mu.Unlock()
	r.scan()
	r.mu.Lock()
	for _, m := range marks {
		delete(r.marks, m)
	}
	r.mu.Unlock()
}
