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

// supervise watches a running process until it exits, stops answering, or
// is stopped by a command or by the end of ctx.
func (w *worker) supervise(ctx context.Context, p *process) outcome {
	var (
		conn    *workerproto.Conn
		connEnd <-chan struct{}
		ready   <-chan struct{}
		ticks   <-chan time.Time
		pings   = make(chan pingResult, 1)
		pinging bool
		missed  int
		// early probes a probe worker until it is first ready, sooner
		// than the health interval; they do not count as missed.
		early     <-chan time.Time
		earlyWait = 50 * time.Millisecond
	)
	if w.spec.Protocol == ProtocolWorkerproto || w.spec.Protocol == ProtocolProbe {
		t := newAlignedTicker(w.spec.HealthInterval)
		defer t.Stop()
		ticks = t.C
	}
	probe := func() {
		pinging = true
		go func() {
			pctx, cancel := context.WithTimeout(ctx, w.spec.HealthTimeout)
			start := time.Now()
			err := w.spec.Probe.Probe(pctx, p.pid)
			cancel()
			pings <- pingResult{workerproto.Pong{RTT: time.Since(start)}, err}
		}()
	}
	// check is what a tick does: probe, ping, or count a miss for a
	// worker not connected.
	var tickDue bool
	check := func() (outcome, bool) {
		switch {
		case w.spec.Protocol == ProtocolProbe:
			probe()
		case conn == nil:
			missed++
			return w.checkMissed(p, missed)
		default:
			pinging = true
			go func(c *workerproto.Conn) {
				pctx, cancel := context.WithTimeout(ctx, w.spec.HealthTimeout)
				pong, err := c.Ping(pctx)
				cancel()
				pings <- pingResult{pong, err}
			}(conn)
		}
		return outcome{}, false
	}
	var earlyTimer *time.Timer
	if w.spec.Protocol == ProtocolProbe && !w.snapshot().Ready {
		earlyTimer = time.NewTimer(earlyWait)
		defer earlyTimer.Stop()
		early = earlyTimer.C
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-p.exited:
			return w.exited(p, outcome{status: p.status, reason: "exited: " + p.status.String()})

		case c := <-w.conns:
			if c.Peer().PID != p.pid {
				c.Close() // an earlier process of this worker, or a stranger with its secret
				continue
			}
			if conn != nil {
				conn.Close()
			}
			conn, connEnd = c, c.Done()
			if !w.snapshot().Ready {
				ready = c.Ready()
			}
			w.emit(Event{Kind: EventConnected, PID: p.pid, Orphan: p.adopted})

		case <-connEnd:
			conn, connEnd, ready = nil, nil, nil // it may redial

		case <-ready:
			ready = nil
			startup := conn.ReadyAt().Sub(p.started)
			if p.adopted {
				startup = 0
			}
			w.update(func(st *WorkerStatus) { st.Ready, st.State = true, StateRunning })
			w.emit(Event{Kind: EventReady, PID: p.pid, StartupTime: startup, Orphan: p.adopted})

		case <-early:
			early = nil
			if !pinging {
				probe()
			}

		case <-ticks:
			if pinging {
				// The last ping is still out: the next goes as soon as it
				// is answered or times out, so a hang costs no tick.
				tickDue = true
				continue
			}
			if out, dead := check(); dead {
				return out
			}

		case r := <-pings:
			pinging = false
			if w.spec.Protocol == ProtocolProbe && !w.snapshot().Ready {
				if r.err != nil {
					if early == nil && earlyTimer != nil && earlyWait < w.spec.HealthInterval {
						earlyWait = min(2*earlyWait, w.spec.HealthInterval)
						earlyTimer.Reset(earlyWait)
						early = earlyTimer.C
						continue // not ready yet: the health interval's ticks count
					}
				} else {
					early = nil
					startup := time.Since(p.started)
					if p.adopted {
						startup = 0
					}
					w.update(func(st *WorkerStatus) { st.Ready, st.State = true, StateRunning })
					w.emit(Event{Kind: EventReady, PID: p.pid, StartupTime: startup, Orphan: p.adopted})
				}
			}
			if r.err != nil {
				missed++
			} else {
				missed = 0
			}
			w.update(func(st *WorkerStatus) {
				st.MissedPings = missed
				if r.err == nil {
					st.LastPing = r.pong.RTT
				}
			})
			if out, dead := w.checkMissed(p, missed); dead {
				return out
			}
			if tickDue {
				tickDue = false
				if out, dead := check(); dead {
					return out
				}
			}

		case c := <-w.cmds:
			if c.kind == cmdStart {
				c.done <- nil // already running
				continue
			}
			w.stopProcess(p, conn)
			return w.exited(p, outcome{status: p.status, reason: "stopped", stopped: true, cmd: &c})

		case <-ctx.Done():
			if w.sup.detached.Load() {
				return outcome{detached: true}
			}
			w.stopProcess(p, conn)
			return w.exited(p, outcome{status: p.status, reason: "stopped", stopped: true})
		}
	}
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
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.kill()
		<-p.exited
	}
}
