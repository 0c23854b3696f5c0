//go:build linux

package supervisor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// testProber answers for the processes the test says are healthy, and
// records the terminate requests.
type testProber struct {
	mu         sync.Mutex
	healthy    map[int]bool
	allHealthy bool
	terminated []int
}

func (p *testProber) Probe(ctx context.Context, pid int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.allHealthy || p.healthy[pid] {
		return nil
	}
	return errors.New("no answer")
}

func (p *testProber) Terminate(ctx context.Context, pid int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.terminated = append(p.terminated, pid)
	return nil
}

func (p *testProber) setHealthy(pid int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allHealthy = false
	p.healthy[pid] = ok
}

func TestProbeWorker(t *testing.T) {
	prober := &testProber{healthy: map[int]bool{}, allHealthy: true}
	spec := helperSpec("v3", "ignore-term")
	spec.Protocol, spec.Probe = ProtocolProbe, prober
	spec.HealthInterval, spec.MaxMissedPings = 100*time.Millisecond, 2
	spec.StopTimeout = 400 * time.Millisecond
	ignoring := newFirstWrite()
	spec.Stdout = ignoring
	sv := serve(t, Config{}, spec)
	from := 0
	ready := sv.rec.waitFor(t, &from, EventReady, nil)
	if st := sv.status(t, "v3"); !st.Ready || st.State != StateRunning {
		t.Errorf("status %+v after a probe answered", st)
	}

	// Probes go unanswered: the worker is replaced.
	prober.setHealthy(ready.PID, false)
	un := sv.rec.waitFor(t, &from, EventUnresponsive, nil)
	if un.PID != ready.PID || !strings.Contains(un.Reason, "2 pings in a row missed") {
		t.Errorf("unresponsive %+v", un)
	}
	second := sv.rec.waitFor(t, &from, EventStarted, nil)
	prober.setHealthy(second.PID, true)
	sv.rec.waitFor(t, &from, EventReady, func(e Event) bool { return e.PID == second.PID })
	if !gone(ready.PID) {
		t.Errorf("the unresponsive worker %d still exists", ready.PID)
	}

	// A stop asks through the prober, then signals (ignored here), then
	// kills.
	ignoring.wait(t)
	if err := sv.Stop(testCtx(t), "v3"); err != nil {
		t.Fatal(err)
	}
	prober.mu.Lock()
	terminated := append([]int(nil), prober.terminated...)
	prober.mu.Unlock()
	if len(terminated) != 1 || terminated[0] != second.PID {
		t.Errorf("terminate requests %v, want [%d]", terminated, second.PID)
	}
	if st := sv.status(t, "v3"); st.LastExit == nil || st.LastExit.Signal != "killed" {
		t.Errorf("last exit %v, want killed after the stop timeout", st.LastExit)
	}
}

func TestProbeSpecNeedsAProber(t *testing.T) {
	spec := helperSpec("v3", "sleep")
	spec.Protocol = ProtocolProbe
	if _, err := spec.withDefaults(); err == nil || !strings.Contains(err.Error(), "Probe") {
		t.Errorf("probe without a Prober: %v", err)
	}
	spec = helperSpec("plain", "sleep")
	spec.Probe = &testProber{}
	if _, err := spec.withDefaults(); err == nil || !strings.Contains(err.Error(), "Probe") {
		t.Errorf("a Prober on a plain worker: %v", err)
	}
}
