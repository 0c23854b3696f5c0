//go:build linux

package supervisor

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHangReplacement stops one of 20 workerproto workers (SIGSTOP)
// at a health interval of 1 s and measures the time from its first missed
// ping (the first tick after the stop; ticks fall on multiples of the
// interval) to its kill, beside the bound M·I + T + 0.2 s. Run it once:
// -bench=HangReplacement -benchtime=1x.
func BenchmarkHangReplacement(b *testing.B) {
	const workers = 20
	_, socket := stateDirSocket(b)
	events := make(chan Event, 256)
	s, err := New(Config{Socket: socket, OnEvent: func(e Event) {
		if e.Kind == EventReady || e.Kind == EventUnresponsive {
			events <- e
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	var spec Spec
	for i := range workers {
		spec = workerprotoSpec("w" + string(rune('a'+i)))
		spec.HealthInterval = time.Second
		spec.HealthTimeout = 0 // the default: 2 s, capped at the interval
		spec.MaxMissedPings = 3
		if err := s.Add(spec); err != nil {
			b.Fatal(err)
		}
	}
	spec, _ = spec.withDefaults()
	interval, timeout, misses := spec.HealthInterval, spec.HealthTimeout, spec.MaxMissedPings
	bound := time.Duration(misses)*interval + timeout + 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { s.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()

	next := func(kind EventKind) Event {
		for {
			select {
			case e := <-events:
				if e.Kind == kind {
					return e
				}
			case <-time.After(testTimeout):
				b.Fatalf("no %s event", kind)
			}
		}
	}
	ready := map[string]int{}
	for len(ready) < workers {
		e := next(EventReady)
		ready[e.Worker] = e.PID
	}
	var worst, worstFromStop time.Duration
	for b.Loop() {
		victim := "wa"
		stopped := time.Now()
		syscall.Kill(ready[victim], syscall.SIGSTOP)
		firstProbe := stopped.Truncate(interval).Add(interval)
		e := next(EventUnresponsive)
		if e.Worker != victim {
			b.Fatalf("%s declared unresponsive, not %s", e.Worker, victim)
		}
		worst = max(worst, e.Time.Sub(firstProbe))
		worstFromStop = max(worstFromStop, e.Time.Sub(stopped))
		ready[victim] = next(EventReady).PID // its replacement
	}
	b.ReportMetric(worst.Seconds(), "replace-s")
	b.ReportMetric(bound.Seconds(), "bound-s")
	b.ReportMetric(worstFromStop.Seconds(), "from-stop-s")
	if worst > bound {
		b.Errorf("a hang was replaced %v after its first missed ping, over the bound %v", worst, bound)
	}
}
