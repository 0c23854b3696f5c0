//go:build linux

package supervisor

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStatusOrderAndReady: Status lists workers in the order they were
// added, with their protocols, and Ready gives one answer, however often
// it is asked.
func TestStatusOrderAndReady(t *testing.T) {
	_, socket := stateDirSocket(t)
	names := []string{"zeta", "alpha", "mid", "beta", "omega", "a1"}
	var specs []Spec
	for i, n := range names {
		if i%2 == 0 {
			specs = append(specs, workerprotoSpec(n))
		} else {
			specs = append(specs, helperSpec(n, "sleep"))
		}
	}
	sv := serve(t, Config{Socket: socket}, specs...)
	from := 0
	for range 3 {
		sv.rec.waitFor(t, &from, EventReady, nil)
	}
	for i := range 60 {
		st := sv.Status()
		var got []string
		for j, w := range st {
			got = append(got, w.Name)
			if w.Protocol != specs[j].withDefaultsT(t).Protocol {
				t.Fatalf("call %d: %s has protocol %q, want %q", i, w.Name, w.Protocol, specs[j].Protocol)
			}
		}
		if !slices.Equal(got, names) {
			t.Fatalf("call %d: order %v, want %v", i, got, names)
		}
		if ok, reasons := sv.Ready(); !ok {
			t.Fatalf("call %d: not ready: %v", i, reasons)
		}
	}
	if err := sv.Stop(testCtx(t), "mid"); err != nil {
		t.Fatal(err)
	}
	ok, reasons := sv.Ready()
	if ok || len(reasons) != 1 || !strings.HasPrefix(reasons[0], "mid: stopped") {
		t.Fatalf("Ready with mid stopped = %v %q", ok, reasons)
	}
}

func (s Spec) withDefaultsT(t *testing.T) Spec {
	t.Helper()
	s, err := s.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStartLimitCountsCleanExits: a worker that exits 0 at once, for ever,
// under RestartAlways, is given up on at its start limit, and its status
// says why.
func TestStartLimitCountsCleanExits(t *testing.T) {
	spec := helperSpec("quick", "exit", exitEnv+"=0", "GORACE=atexit_sleep_ms=0")
	spec.Backoff.Initial = -1
	spec.Intensity.MaxFailures = -1 // only the start limit applies
	spec.StartLimit = StartLimit{Burst: 5, Interval: time.Minute}
	sv := serve(t, Config{}, spec)
	from := 0
	gave := sv.rec.waitFor(t, &from, EventGaveUp, nil)
	if n := sv.rec.count(EventStarted); n != 5 {
		t.Errorf("%d starts before giving up, want 5", n)
	}
	st := sv.status(t, "quick")
	if st.State != StateFailed || !strings.Contains(st.Reason, "start limit: 5 starts within 1m0s") || st.Reason != gave.Reason {
		t.Errorf("status %s %q, event %q", st.State, st.Reason, gave.Reason)
	}
	if ok, reasons := sv.Ready(); ok || len(reasons) != 1 || !strings.Contains(reasons[0], "quick: failed: start limit") {
		t.Errorf("Ready = %v %q", ok, reasons)
	}
	// Started by hand, it has its starts again.
	if err := sv.Start(testCtx(t), "quick"); err != nil {
		t.Fatal(err)
	}
	sv.rec.waitFor(t, &from, EventGaveUp, nil)
	if n := sv.rec.count(EventStarted); n != 10 {
		t.Errorf("%d starts after a manual start, want 10", n)
	}
}
