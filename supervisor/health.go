package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

type pingResult struct {
	pong workerproto.Pong
	err  error
}

// A watch is the state of supervise for one process: its connection, the
// ping in flight, the misses in a row.
type watch struct {
	w       *worker
	p       *process
	ctx     context.Context
	conn    *workerproto.Conn
	connEnd <-chan struct{}
	ready   <-chan struct{}
	pings   chan pingResult
	pinging bool
	tickDue bool // a tick fell while a ping was out
	missed  int
	// early probes a probe worker until it is first ready, sooner than the
	// health interval; they do not count as missed.
	early      <-chan time.Time
	earlyTimer *time.Timer
	earlyWait  time.Duration
}

// supervise watches a running process until it exits, stops answering, or
// is stopped by a command or by the end of ctx.
func (w *worker) supervise(ctx context.Context, p *process) outcome {
	h := &watch{w: w, p: p, ctx: ctx, pings: make(chan pingResult, 1), earlyWait: 50 * time.Millisecond}
	var ticks <-chan time.Time
	if w.spec.Protocol == ProtocolWorkerproto || w.spec.Protocol == ProtocolProbe {
		t := newAlignedTicker(w.spec.HealthInterval)
		defer t.Stop()
		ticks = t.C
	}
	if w.spec.Protocol == ProtocolProbe && !w.snapshot().Ready {
		h.earlyTimer = time.NewTimer(h.earlyWait)
		defer h.earlyTimer.Stop()
		h.early = h.earlyTimer.C
	}
	defer func() {
		if h.conn != nil {
			h.conn.Close()
		}
	}()
	for {
		var out outcome
		var done bool
		select {
		case <-p.exited:
			return w.exited(p, outcome{status: p.status, reason: "exited: " + p.status.String()})
		case c := <-w.conns:
			h.connected(c)
		case <-h.connEnd:
			h.conn, h.connEnd, h.ready = nil, nil, nil // it may redial
		case <-h.ready:
			h.ready = nil
			h.markReady(h.conn.ReadyAt())
		case <-h.early:
			h.early = nil
			if !h.pinging {
				h.probe()
			}
		case <-ticks:
			if h.pinging {
				// The last ping is still out: the next goes as soon as it
				// is answered or times out, so a hang costs no tick.
				h.tickDue = true
				continue
			}
			out, done = h.check()
		case r := <-h.pings:
			out, done = h.answered(r)
		case c := <-w.cmds:
			if c.kind == cmdStart {
				c.done <- nil // already running
				continue
			}
			w.stopProcess(p, h.conn)
			return w.exited(p, outcome{status: p.status, reason: "stopped", stopped: true, cmd: &c})
		case <-ctx.Done():
			if w.sup.detached.Load() {
				return outcome{detached: true}
			}
			w.stopProcess(p, h.conn)
			return w.exited(p, outcome{status: p.status, reason: "stopped", stopped: true})
		}
		if done {
			return out
		}
	}
}

// connected takes a new connection of the worker.
func (h *watch) connected(c *workerproto.Conn) {
	if c.Peer().PID != h.p.pid {
		c.Close() // an earlier process of this worker
		return
	}
	if h.conn != nil {
		h.conn.Close()
	}
	h.conn, h.connEnd = c, c.Done()
	if !h.w.snapshot().Ready {
		h.ready = c.Ready()
	}
	h.w.emit(Event{Kind: EventConnected, PID: h.p.pid, Orphan: h.p.adopted})
}

// markReady records that the worker is ready, as of at.
func (h *watch) markReady(at time.Time) {
	startup := at.Sub(h.p.started)
	if h.p.adopted {
		startup = 0
	}
	h.w.update(func(st *WorkerStatus) { st.Ready, st.State = true, StateRunning })
	h.w.emit(Event{Kind: EventReady, PID: h.p.pid, StartupTime: startup, Orphan: h.p.adopted})
}

// probe asks the prober about the worker, in the background.
func (h *watch) probe() {
	h.pinging = true
	go func() {
		pctx, cancel := context.WithTimeout(h.ctx, h.w.spec.HealthTimeout)
		start := time.Now()
		err := h.w.spec.Probe.Probe(pctx, h.p.pid)
		cancel()
		h.pings <- pingResult{workerproto.Pong{RTT: time.Since(start)}, err}
	}()
}

// check is what a tick does: probe, ping, or count a miss for a worker
// not connected.
func (h *watch) check() (outcome, bool) {
	switch {
	case h.w.spec.Protocol == ProtocolProbe:
		h.probe()
	case h.conn == nil:
		h.missed++
		return h.w.checkMissed(h.p, h.missed)
	default:
		h.pinging = true
		go func(c *workerproto.Conn) {
			pctx, cancel := context.WithTimeout(h.ctx, h.w.spec.HealthTimeout)
			pong, err := c.Ping(pctx)
			cancel()
			h.pings <- pingResult{pong, err}
		}(h.conn)
	}
	return outcome{}, false
}

// answered takes the result of a ping or probe, and sends the next at once
// if a tick fell while it was out.
func (h *watch) answered(r pingResult) (outcome, bool) {
	h.pinging = false
	if h.w.spec.Protocol == ProtocolProbe && !h.w.snapshot().Ready {
		if r.err == nil {
			h.early = nil
			h.markReady(time.Now())
		} else if h.early == nil && h.earlyTimer != nil && h.earlyWait < h.w.spec.HealthInterval {
			h.earlyWait = min(2*h.earlyWait, h.w.spec.HealthInterval)
			h.earlyTimer.Reset(h.earlyWait)
			h.early = h.earlyTimer.C
			return outcome{}, false // not ready yet: the health interval's ticks count
		}
	}
	if r.err != nil {
		h.missed++
	} else {
		h.missed = 0
	}
	h.w.update(func(st *WorkerStatus) {
		st.MissedPings = h.missed
		if r.err == nil {
			st.LastPing = r.pong.RTT
		}
	})
	if out, dead := h.w.checkMissed(h.p, h.missed); dead {
		return out, true
	}
	if h.tickDue {
		h.tickDue = false
		return h.check()
	}
	return outcome{}, false
}

// alignedTicker ticks at the multiples of its interval since the Unix
// epoch, so that the tickers of all workers with the same interval fire at
// the same instants: the runtime then serves them in one wake-up, which
// keeps an idle supervisor of many workers cheap.
type alignedTicker struct {
	C     <-chan time.Time
	timer *time.Timer
	stop  chan struct{}
}

func newAlignedTicker(interval time.Duration) *alignedTicker {
	c := make(chan time.Time, 1)
	t := &alignedTicker{C: c, stop: make(chan struct{})}
	var fire func()
	fire = func() {
		select {
		case c <- time.Now():
		default: // the reader is behind: drop the tick, as time.Ticker does
		}
		select {
		case <-t.stop:
		default:
			t.timer.Reset(untilNextMultiple(interval))
		}
	}
	t.timer = time.AfterFunc(time.Hour, fire) // armed below, once t.timer is set
	t.timer.Reset(untilNextMultiple(interval))
	return t
}

func (t *alignedTicker) Stop() {
	close(t.stop)
	t.timer.Stop()
}

// untilNextMultiple returns the time to the next multiple of d since the
// Unix epoch.
func untilNextMultiple(d time.Duration) time.Duration {
	now := time.Now()
	return now.Truncate(d).Add(d).Sub(now)
}

// checkMissed kills a worker that missed too many pings in a row.
func (w *worker) checkMissed(p *process, missed int) (outcome, bool) {
	w.update(func(st *WorkerStatus) { st.MissedPings = missed })
	if missed < w.spec.MaxMissedPings {
		return outcome{}, false
	}
	reason := fmt.Sprintf("unresponsive: %d pings in a row missed", missed)
	w.emit(Event{Kind: EventUnresponsive, PID: p.pid, Reason: reason, Orphan: p.adopted})
	p.kill()
	<-p.exited
	return w.exited(p, outcome{status: p.status, reason: reason, unresponsive: true}), true
}

// exited records the end of a process and kills what it left in its
// process group.
func (w *worker) exited(p *process, out outcome) outcome {
	p.cleanUp() // grandchildren left behind in its group; run sweeps the rest
	if p.adopted && w.spec.Output.effective() == OutputFile {
		p.status.StderrTail = fileTail(w.spec.Output.Path, tailSize)
	}
	w.update(func(st *WorkerStatus) {
		st.LastExit = p.status
		st.PID, st.Ready, st.MissedPings = 0, false, 0
	})
	if !out.stopped {
		w.emit(Event{Kind: EventExited, PID: p.pid, Exit: p.status, Reason: out.reason, Orphan: p.adopted})
	}
	return out
}

// stopProcess stops a process gracefully: a workerproto worker is asked to
// terminate, a plain one gets SIGTERM; whatever still runs at the stop
// timeout is killed with its whole process group.
func (w *worker) stopProcess(p *process, conn *workerproto.Conn) {
	w.update(func(st *WorkerStatus) { st.State = StateStopping })
	deadline := time.Now().Add(w.spec.StopTimeout)
	if conn == nil {
		select { // a connection may be waiting
		case c := <-w.conns:
			if c.Peer().PID == p.pid {
				conn = c
				defer c.Close()
			} else {
				c.Close()
			}
		default:
		}
	}
	asked := false
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	switch {
	case conn != nil:
		asked = conn.Terminate(ctx, deadline) == nil
	case w.spec.Protocol == ProtocolProbe:
		// Asked through the prober, the worker has half the stop timeout
		// before it is signalled.
		if w.spec.Probe.Terminate(ctx, p.pid) == nil {
			half := time.NewTimer(time.Until(deadline) / 2)
			select {
			case <-p.exited:
				half.Stop()
				return
			case <-half.C:
			}
		}
	}
	if !asked {
		p.terminate()
	}
	p.killAt(deadline)
}
