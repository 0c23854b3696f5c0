package supervisor

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

type cmdKind int

const (
	cmdStop cmdKind = iota
	cmdStart
	cmdRemove
)

// A command is a request to a worker's runner; done receives the result.
type command struct {
	kind cmdKind
	done chan error
}

// A worker is one supervised worker: its spec, its runner goroutine's
// inbox, and its status.
type worker struct {
	sup       *Supervisor
	spec      Spec
	order     uint64 // when it was added, for the order of Status
	restarter *restarter
	cmds      chan command
	conns     chan *workerproto.Conn // connections for this worker, from the accept loop
	done      chan struct{}          // closed when the runner returns

	mu      sync.Mutex
	st      WorkerStatus
	running bool // the runner goroutine was started
	stopped bool // Stop before Serve: do not start
}

func newWorker(s *Supervisor, spec Spec) *worker {
	return &worker{
		sup:       s,
		spec:      spec,
		restarter: newRestarter(&spec),
		cmds:      make(chan command),
		conns:     make(chan *workerproto.Conn, 1),
		done:      make(chan struct{}),
		st:        WorkerStatus{Name: spec.Name, State: StateStopped, Protocol: spec.Protocol},
	}
}

// request sends a command to the runner and waits for its result. Before
// the runner starts, stop and start only set whether it will start; after
// it has returned, there is nothing left to do.
func (w *worker) request(ctx context.Context, kind cmdKind) error {
	w.mu.Lock()
	if !w.running {
		switch kind {
		case cmdStop:
			w.stopped = true
		case cmdStart:
			w.stopped = false
		}
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	c := command{kind: kind, done: make(chan error, 1)}
	select {
	case w.cmds <- c:
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *worker) snapshot() WorkerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	if st.LastExit != nil {
		e := *st.LastExit
		st.LastExit = &e
	}
	return st
}

func (w *worker) update(f func(st *WorkerStatus)) {
	w.mu.Lock()
	f(&w.st)
	w.mu.Unlock()
}

func (w *worker) emit(e Event) {
	e.Worker = w.spec.Name
	w.sup.emit(e)
}

// outcome is how one supervised process ended.
type outcome struct {
	status       *ExitStatus // nil when the process could not be started
	reason       string
	unresponsive bool
	stopped      bool     // stopped on request or because the supervisor stops
	detached     bool     // the supervisor left the process running
	cmd          *command // the stop or remove request, if any
}

// run keeps the worker running until ctx ends or it is removed.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	if l := w.sup.listener; l != nil {
		defer l.Revoke(w.spec.Name)
	}
	w.mu.Lock()
	w.running = true
	want := !w.stopped
	w.mu.Unlock()
	if m := w.spec.Output.Mode; m == OutputFile || m == OutputAuto {
		stop, rotated := make(chan struct{}), make(chan struct{})
		go func() { defer close(rotated); rotateLoop(&w.spec.Output, stop) }()
		defer func() { close(stop); <-rotated }()
	}

	p := w.recoverOrphan(ctx)
	// leftover is the mark of the process that just ended: what carries it
	// outside its process group is killed once the replacement has
	// started, or at once when there is none, so that the sweep is never
	// in the way of a restart.
	var leftover string
	sweepIn := func(delay time.Duration) {
		w.sup.sweepAfter(leftover, delay)
		leftover = ""
	}
	sweep := func() { sweepIn(0) }
	defer sweep()
	for {
		if p == nil && !want {
			var ok bool
			if want, ok = w.idle(ctx); !ok {
				return
			}
			continue
		}
		var out outcome
		if p == nil {
			var err error
			if p, err = w.start(); err != nil {
				out = outcome{reason: "start failed: " + err.Error()}
				w.emit(Event{Kind: EventExited, Reason: out.reason})
			}
		}
		sweepIn(restartSweepDelay)
		var ran time.Duration
		if p != nil {
			out = w.supervise(ctx, p)
			ran = time.Since(p.started)
			if !out.detached {
				leftover = p.mark
			}
			p = nil
		}
		if out.detached {
			return // the process runs on, for the next supervisor
		}
		if out.stopped {
			sweep()
			if !w.stoppedOnRequest(out) {
				return
			}
			want = false
			continue
		}
		var restart bool
		if want, restart = w.afterExit(out, ran); !restart {
			sweep()
			continue
		}
		if !w.pause(ctx, out, ran, &want, sweep) {
			return
		}
	}
}

// idle waits, with no process, for a command: it returns whether the
// worker is wanted again, and false for ok when the runner must return.
func (w *worker) idle(ctx context.Context) (want, ok bool) {
	w.update(func(st *WorkerStatus) {
		if st.State != StateFailed {
			st.State = StateStopped
		}
	})
	select {
	case <-ctx.Done():
		return false, false
	case c := <-w.cmds:
		c.done <- nil
		switch c.kind {
		case cmdRemove:
			return false, false
		case cmdStart:
			w.restarter.reset()
			return true, true
		}
		return false, true
	}
}

// stoppedOnRequest records a process stopped by a command or by the end
// of Serve, and answers the command. It returns false when the runner must
// return.
func (w *worker) stoppedOnRequest(out outcome) bool {
	reason := "stopped on request"
	if out.cmd == nil {
		reason = "the supervisor stopped"
	}
	w.sup.dropState(w.spec.Name)
	w.update(func(st *WorkerStatus) {
		st.State, st.PID, st.Ready, st.Adopted, st.Reason = StateStopped, 0, false, false, reason
	})
	w.emit(Event{Kind: EventStopped})
	if out.cmd == nil {
		return false
	}
	out.cmd.done <- nil
	return out.cmd.kind != cmdRemove
}

// afterExit applies the restart policy to an unplanned exit: it returns
// whether the worker is still wanted and whether to restart it now (after
// the backoff).
func (w *worker) afterExit(out outcome, ran time.Duration) (want, restart bool) {
	failure := out.status == nil || out.unresponsive || !out.status.Success()
	permanent := out.status != nil && out.status.Signal == "" && slices.Contains(w.spec.PermanentExitCodes, out.status.Code)
	switch {
	case permanent:
		out.reason = fmt.Sprintf("permanent exit status %d", out.status.Code)
	case w.spec.Restart == RestartNever:
		out.reason = "restart policy never"
	case w.spec.Restart == RestartOnFailure && !failure:
		out.reason = "exited successfully, restart policy on-failure"
	default:
		return true, true
	}
	w.sup.dropState(w.spec.Name)
	w.update(func(st *WorkerStatus) {
		st.State, st.PID, st.Ready, st.Adopted, st.Reason = StateStopped, 0, false, false, out.reason
	})
	w.emit(Event{Kind: EventStopped, Exit: out.status, Reason: out.reason})
	return false, false
}

// pause waits out the backoff before a restart, or gives up on a worker
// that failed too often. It returns false when the runner must return.
func (w *worker) pause(ctx context.Context, out outcome, ran time.Duration, want *bool, sweep func()) bool {
	delay, giveUp := w.restarter.exited(time.Now(), ran)
	if giveUp || delay > 0 {
		sweep() // no restart at once to wait for
	}
	if giveUp {
		reason := w.restarter.giveUpReason(out.reason)
		w.sup.dropState(w.spec.Name)
		w.update(func(st *WorkerStatus) {
			st.State, st.PID, st.Ready, st.Adopted, st.Reason = StateFailed, 0, false, false, reason
		})
		w.emit(Event{Kind: EventGaveUp, Exit: out.status, Reason: reason})
		*want = false
		return true
	}
	w.update(func(st *WorkerStatus) { st.State, st.PID, st.Ready, st.Adopted = StateBackoff, 0, false, false })
	w.emit(Event{Kind: EventRestarting, Delay: delay, Reason: out.reason})
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			w.update(func(st *WorkerStatus) { st.Restarts++ })
			return true
		case <-ctx.Done():
			return false
		case c := <-w.cmds:
			c.done <- nil
			switch c.kind {
			case cmdRemove:
				return false
			case cmdStop:
				*want = false
				return true
			case cmdStart: // restart now
				w.update(func(st *WorkerStatus) { st.Restarts++ })
				return true
			}
		}
	}
}

// start starts a new process of the worker. The intent is recorded
// before the fork, with the mark the process will carry, so that a core
// that dies before the pid is recorded leaves a state by which the next
// core finds the process.
func (w *worker) start() (*process, error) {
	var env []string
	var secret workerproto.Secret
	mark, err := newMark()
	if err != nil {
		return nil, err
	}
	if w.spec.Protocol == ProtocolWorkerproto {
		if secret, err = workerproto.NewSecret(); err != nil {
			return nil, err
		}
		// The pid is not known before the fork: the listener holds a
		// connection presenting the secret until SetPID below, and then
		// welcomes only that process.
		if err := w.sup.listener.Authorize(w.spec.Name, secret, 0); err != nil {
			return nil, err
		}
		env = workerproto.Env(w.sup.listener.Path(), secret)
	}
	w.dropStaleConns()
	e := Event{Kind: EventStarted}
	if err := w.sup.saveIntent(&w.spec, mark, secret); err != nil {
		e.Reason = err.Error()
	}
	p, err := startProcess(&w.spec, env, mark, w.sup.reaper)
	if err != nil {
		w.sup.dropState(w.spec.Name)
		if !secret.IsZero() {
			w.sup.listener.Revoke(w.spec.Name)
		}
		return nil, err
	}
	if !secret.IsZero() {
		w.sup.listener.SetPID(w.spec.Name, p.pid)
	}
	w.sup.reaper.addMark(mark, p.pid)
	e.PID = p.pid
	if err := w.sup.saveState(&w.spec, p, secret); err != nil {
		e.Reason = err.Error()
	}
	state := StateRunning
	if w.spec.Protocol != ProtocolPlain {
		state = StateStarting
	}
	w.update(func(st *WorkerStatus) {
		st.State, st.PID, st.StartedAt, st.Ready, st.Adopted, st.MissedPings = state, p.pid, p.started, false, false, 0
		st.Reason = ""
	})
	w.emit(e)
	return p, nil
}

// dropStaleConns closes connections of earlier processes still queued.
func (w *worker) dropStaleConns() {
	for {
		select {
		case c := <-w.conns:
			c.Close()
		default:
			return
		}
	}
}

// recoverOrphan looks for a process of this worker left running by an
// earlier run of the core, and adopts it or stops it per the spec. It
// returns the adopted process, or nil.
func (w *worker) recoverOrphan(ctx context.Context) *process {
	st, err := w.sup.loadState(w.spec.Name)
	if err != nil || st == nil {
		if err != nil {
			w.sup.dropState(w.spec.Name) // unreadable: it names no process we can trust
		}
		return nil
	}
	if st.Process.PID == 0 && st.Mark != "" {
		// An intent: the core died around the fork. The process, if any,
		// carries the mark.
		id, ok := findByMark(st.Mark)
		if !ok {
			w.sup.reaper.sweep(st.Mark) // strays of a worker that is gone
			w.sup.dropState(w.spec.Name)
			return nil
		}
		st.Process, st.Started = id, time.Now()
	}
	if !st.Process.Running() {
		// Gone, or the pid now belongs to another process: nothing of ours
		// but what it may have left behind.
		w.sup.reaper.sweep(st.Mark)
		w.sup.dropState(w.spec.Name)
		return nil
	}
	var secret workerproto.Secret
	if st.Secret != "" && w.sup.listener != nil {
		if secret, err = workerproto.ParseSecret(st.Secret); err == nil {
			w.sup.listener.Authorize(w.spec.Name, secret, st.Process.PID)
		}
	}
	p := adoptProcess(st.Process, st.Started)
	p.mark = st.Mark
	w.sup.reaper.addMark(p.mark, p.pid)
	if w.spec.Orphans == OrphanStop {
		w.stopProcess(p, nil)
		w.sup.reaper.sweep(p.mark)
		w.sup.dropState(w.spec.Name)
		w.emit(Event{Kind: EventStopped, PID: p.pid, Orphan: true, Reason: "left by an earlier run; orphan policy stop"})
		return nil
	}
	w.sup.saveState(&w.spec, p, secret) // an intent becomes a record
	state := StateRunning
	if w.spec.Protocol != ProtocolPlain {
		state = StateStarting
	}
	w.update(func(ws *WorkerStatus) {
		ws.State, ws.PID, ws.StartedAt, ws.Adopted, ws.Ready = state, p.pid, p.started, true, false
	})
	w.emit(Event{Kind: EventAdopted, PID: p.pid, Orphan: true})
	return p
}
