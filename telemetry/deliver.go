package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ssmkit/ssmkit/internal/retry"
)

// Sink states in SinkStatus.
const (
	// StateOK: the sink delivers (or has nothing to deliver).
	StateOK = "ok"
	// StateRetrying: the last send failed; the pipeline retries with backoff.
	StateRetrying = "retrying"
	// StatePending: the sink is not configured to send yet; its events wait.
	StatePending = "pending"
)

// A SinkStatus is a snapshot of one sink, for a status command.
type SinkStatus struct {
	Name  string
	State string
	// PendingEvents and PendingBytes are what is recorded and not yet
	// delivered to this sink (bytes as stored in the spool, roughly).
	PendingEvents uint64
	PendingBytes  int64
	// Delivered, Dropped and Retries count since Open.
	Delivered, Dropped, Retries uint64
	LastError                   string
	LastErrorAt, LastDeliveryAt time.Time
}

// Status returns a snapshot of every sink.
func (p *Pipeline) Status() []SinkStatus {
	segs, durable := p.spool.snapshot()
	out := make([]SinkStatus, len(p.sinks))
	for i, st := range p.sinks {
		st.mu.Lock()
		s := st.status
		st.mu.Unlock()
		cp := st.done()
		if durable > cp {
			s.PendingEvents = durable - cp
		}
		for j, seg := range segs {
			last := durable
			if j+1 < len(segs) {
				last = segs[j+1].first - 1
			}
			if last > cp {
				s.PendingBytes += seg.size
			}
		}
		out[i] = s
	}
	return out
}

func (st *sinkState) update(f func(*SinkStatus)) {
	st.mu.Lock()
	f(&st.status)
	st.mu.Unlock()
}

// runSink feeds one sink until ctx ends.
func (p *Pipeline) runSink(ctx context.Context, st *sinkState) {
	cfg := st.cfg
	bo := retry.New(cfg.RetryInitial, max(cfg.RetryMax, cfg.RetryInitial))
	for {
		// Wait for events, then let more gather for the flush interval.
		changed := p.spool.changed()
		if len(st.window) == 0 && p.spool.durable.Load() <= st.done() {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return
			}
		}
		if cfg.FlushInterval > 0 && !retry.Sleep(ctx, cfg.FlushInterval) {
			return
		}
		for {
			n, err := p.deliver(ctx, st)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				bo.Reset()
				if n == 0 {
					break // nothing left, or the sink wants to wait
				}
				continue
			}
			// Not configured: no point in hurrying, but its backlog is
			// trimmed to MaxPendingBytes at each try, so try often enough
			// that a flood cannot pile up meanwhile.
			wait := min(max(cfg.RetryMax, cfg.FlushInterval), pendingRecheck)
			if !errors.Is(err, ErrNotConfigured) {
				wait = bo.Next()
			}
			if !retry.Sleep(ctx, wait) {
				return
			}
		}
	}
}

// pendingRecheck is how often a sink that is not configured is tried
// again, its backlog trimmed.
const pendingRecheck = 2 * time.Second

// fill tops up the sink's window from the spool.
func (p *Pipeline) fill(st *sinkState) error {
	cp := st.checkpoint.Load()
	for len(st.window) > 0 && st.window[0].seq <= cp { // dropped for space
		st.window = st.window[1:]
	}
	if len(st.window) == 0 && st.cursor.next <= cp {
		st.cursor.close() // events dropped for space: start past them
		st.cursor.next = cp + 1
	}
	room, bytes := st.cfg.MaxBatch-len(st.window), 0
	for _, pe := range st.window {
		bytes += pe.size
	}
	if room <= 0 || bytes >= st.cfg.MaxBatchBytes {
		return nil
	}
	recs, err := st.cursor.read(room, st.cfg.MaxBatchBytes-bytes)
	if n := st.cursor.skipped; n > 0 {
		st.cursor.skipped = 0
		st.update(func(s *SinkStatus) { s.Dropped += n })
	}
	for _, r := range recs {
		e, derr := decodeEvent(r.payload)
		if derr != nil { // checksummed but undecodable: written by something else
			st.update(func(s *SinkStatus) { s.Dropped++ })
			st.window = append(st.window, pending{seq: r.seq, bad: true})
			continue
		}
		st.window = append(st.window, pending{seq: r.seq, event: e, size: len(r.payload)})
	}
	return err
}

// deliver makes one Send to the sink and records the outcome. It returns
// how many events the sink took.
func (p *Pipeline) deliver(ctx context.Context, st *sinkState) (int, error) {
	if err := p.fill(st); err != nil {
		p.failed(st, err)
		return 0, err
	}
	st.skipBad()
	if len(st.window) == 0 {
		return 0, nil
	}
	events := make([]Event, 0, len(st.window))
	for _, pe := range st.window {
		if pe.bad { // a Send stops short of it; it is skipped when reached
			break
		}
		events = append(events, pe.event)
	}
	n, err := st.cfg.Sink.Send(ctx, events)
	n = min(max(n, 0), len(events))
	switch {
	case err == nil:
	case IsPermanent(err):
		if n == 0 {
			n = len(events)
		}
		nn := uint64(n)
		st.update(func(s *SinkStatus) { s.Dropped += nn })
	case errors.Is(err, ErrNotConfigured):
		n = 0
		p.trimPending(st)
	}
	if n > 0 {
		st.taken.Store(st.window[n-1].seq)
		st.window = st.window[n:]
		st.skipBad()
		st.requestSave()
		if !IsPermanent(err) {
			nn := uint64(n)
			st.update(func(s *SinkStatus) { s.Delivered += nn; s.LastDeliveryAt = time.Now() })
		}
	}
	if err != nil && !IsPermanent(err) {
		p.failed(st, err)
		return n, err
	}
	if err != nil { // permanent: dropped, but the sink works
		p.reportError(st, err)
	}
	p.recovered(st)
	return n, nil
}

// skipBad takes the undecodable records at the front of the window as
// done with (they were counted as dropped when read).
func (st *sinkState) skipBad() {
	for len(st.window) > 0 && st.window[0].bad {
		st.taken.Store(st.window[0].seq)
		st.window = st.window[1:]
		st.requestSave()
	}
}

// saveLoop writes the sink's checkpoint when it has delivered events,
// beside the goroutine that delivers, so that a slow disk sync does not
// hold deliveries up: what is delivered during one write is covered by the
// next. It returns when ctx ends.
func (p *Pipeline) saveLoop(ctx context.Context, st *sinkState) {
	for {
		select {
		case <-st.saveReq:
		case <-ctx.Done():
			return
		}
		p.save(st)
	}
}

// requestSave asks saveLoop to write the checkpoint.
func (st *sinkState) requestSave() {
	select {
	case st.saveReq <- struct{}{}:
	default:
	}
}

// save writes the checkpoint of what the sink has taken, and deletes the
// segments that every sink is done with.
func (p *Pipeline) save(st *sinkState) {
	if st.taken.Load() <= st.checkpoint.Load() {
		return
	}
	if err := st.advance(st.taken.Load()); err != nil {
		p.reportError(st, err)
		return
	}
	p.collect()
}

// failed records a sink's error and reports it if it is a new one.
func (p *Pipeline) failed(st *sinkState, err error) {
	state := StateRetrying
	if errors.Is(err, ErrNotConfigured) {
		state = StatePending
	}
	st.update(func(s *SinkStatus) {
		s.State = state
		if state == StateRetrying {
			s.Retries++
		}
	})
	p.reportError(st, err)
}

// reportError sets the sink's last error and tells OnError about a new one.
func (p *Pipeline) reportError(st *sinkState, err error) {
	msg := err.Error()
	var changed bool
	st.update(func(s *SinkStatus) {
		changed = s.LastError != msg
		s.LastError, s.LastErrorAt = msg, time.Now()
	})
	if changed && p.cfg.OnError != nil {
		p.cfg.OnError(st.name, fmt.Errorf("telemetry: sink %s: %w", st.name, err))
	}
}

// recovered marks a sink as working again.
func (p *Pipeline) recovered(st *sinkState) {
	var was string
	st.update(func(s *SinkStatus) {
		was = s.State
		s.State = StateOK
	})
	if was != StateOK && p.cfg.OnError != nil {
		p.cfg.OnError(st.name, nil)
	}
}

// trimPending drops, for a pending sink, the oldest whole segments past
// its MaxPendingBytes.
func (p *Pipeline) trimPending(st *sinkState) {
	segs, durable := p.spool.snapshot()
	cp := st.checkpoint.Load()
	lastOf := func(j int) uint64 {
		if j+1 < len(segs) {
			return segs[j+1].first - 1
		}
		return durable
	}
	var total int64
	for j, seg := range segs {
		if lastOf(j) > cp {
			total += seg.size
		}
	}
	var through uint64
	for j := 0; j+1 < len(segs) && total > st.cfg.MaxPendingBytes; j++ {
		if last := lastOf(j); last > cp {
			total -= segs[j].size
			through = last
		}
	}
	if through == 0 {
		return
	}
	n := through - max(cp, segs[0].first-1)
	if err := st.advance(through); err != nil {
		return // tried again at the next Send
	}
	st.update(func(s *SinkStatus) { s.Dropped += n })
	p.collect()
	p.Record(context.Background(), Event{Type: TypeTelemetry, Name: NameDropped,
		Attributes: map[string]string{AttrSink: st.name, AttrCount: strconv.FormatUint(n, 10), AttrReason: "sink pending"}})
}
