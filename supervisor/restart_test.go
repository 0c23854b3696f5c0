package supervisor

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func mustSpec(t *testing.T, s Spec) Spec {
	t.Helper()
	if s.Name == "" {
		s.Name = "w"
	}
	if s.Path == "" {
		s.Path = "/bin/true"
	}
	s, err := s.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// crashLoop runs a worker that fails after running for ran each time, with
// the restarter's delays slept for real inside a synctest bubble, and
// returns the delays until it gives up (or max restarts).
func crashLoop(t *testing.T, r *restarter, ran time.Duration, maxRestarts int) (delays []time.Duration, gaveUp bool) {
	for range maxRestarts {
		time.Sleep(ran)
		delay, giveUp := r.exited(time.Now(), ran)
		if giveUp {
			return delays, true
		}
		delays = append(delays, delay)
		time.Sleep(delay)
	}
	return delays, false
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSpec(t, Spec{Backoff: Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Jitter: 0.2},
			Intensity: Intensity{MaxFailures: -1}})
		delays, gaveUp := crashLoop(t, newRestarter(&s), 10*time.Millisecond, 8)
		if gaveUp {
			t.Fatal("gave up without an intensity limit")
		}
		want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000}
		for i, d := range delays {
			w := want[i] * time.Millisecond
			lo, hi := time.Duration(float64(w)*0.8), time.Duration(float64(w)*1.2)
			if d < lo || d > hi {
				t.Errorf("delay %d = %v, want %v ± 20%%", i, d, w)
			}
		}
	})
}

func TestBackoffResetsAfterStableRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSpec(t, Spec{Backoff: Backoff{Initial: time.Second, Jitter: -1}, StableAfter: time.Minute,
			Intensity: Intensity{MaxFailures: -1}})
		r := newRestarter(&s)
		crashLoop(t, r, time.Second, 4) // 1, 2, 4, 8 s
		delay, _ := r.exited(time.Now(), time.Minute)
		if delay != 0 {
			t.Errorf("delay after a stable run = %v, want none", delay)
		}
		if delay, _ := r.exited(time.Now(), time.Second); delay != time.Second {
			t.Errorf("delay after the next, quick crash = %v, want the initial 1s", delay)
		}
	})
}

func TestNoDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSpec(t, Spec{Backoff: Backoff{Initial: -1}, Intensity: Intensity{MaxFailures: -1}})
		delays, _ := crashLoop(t, newRestarter(&s), time.Millisecond, 20)
		for i, d := range delays {
			if d != 0 {
				t.Fatalf("delay %d = %v, want none", i, d)
			}
		}
	})
}

func TestCrashLoopGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSpec(t, Spec{}) // defaults: 5 failures, halving every minute
		start := time.Now()
		delays, gaveUp := crashLoop(t, newRestarter(&s), 50*time.Millisecond, 100)
		if !gaveUp {
			t.Fatal("a crash loop never ended")
		}
		if len(delays) != 5 {
			t.Errorf("gave up after %d restarts, want 5", len(delays))
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("giving up took %v", took)
		}
	})
}

func TestSparseFailuresNeverGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSpec(t, Spec{})
		// A worker that fails once every two minutes, for a day.
		_, gaveUp := crashLoop(t, newRestarter(&s), 2*time.Minute, 720)
		if gaveUp {
			t.Fatal("gave up on a worker that fails every two minutes")
		}
	})
}

func TestResetForgetsFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustSpec(t, Spec{Intensity: Intensity{MaxFailures: 2}})
		r := newRestarter(&s)
		if _, gaveUp := crashLoop(t, r, time.Millisecond, 10); !gaveUp {
			t.Fatal("no give-up")
		}
		r.reset()
		if delays, gaveUp := crashLoop(t, r, time.Millisecond, 2); gaveUp || delays[0] > 120*time.Millisecond {
			t.Fatalf("after reset: delays %v, gave up %v", delays, gaveUp)
		}
	})
}

func TestAlignedTicker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(1234 * time.Millisecond) // start off the boundary
		tk := newAlignedTicker(time.Second)
		defer tk.Stop()
		for range 3 {
			now := <-tk.C
			if now.Truncate(time.Second) != now {
				t.Fatalf("tick at %v, not on a whole second", now)
			}
		}
	})
}

func TestStartLimitWindow(t *testing.T) {
	r := newRestarter(&Spec{StartLimit: StartLimit{Burst: 3, Interval: 10 * time.Second}, Intensity: Intensity{MaxFailures: -1}})
	now := time.Unix(1000, 0)
	// Three quick exits within the window: the third gives up.
	for i, want := range []bool{false, false, true} {
		if _, giveUp := r.exited(now.Add(time.Duration(i)*time.Second), 0); giveUp != want {
			t.Fatalf("exit %d: giveUp %v, want %v", i, giveUp, want)
		}
	}
	r.reset()
	// One exit every 6 s never has three starts within 10 s.
	for i := range 10 {
		if _, giveUp := r.exited(now.Add(time.Duration(6*i)*time.Second), time.Second); giveUp {
			t.Fatalf("exit %d at a 6 s pace gave up", i)
		}
	}
}

func TestStartLimitSpec(t *testing.T) {
	for _, tc := range []struct {
		limit StartLimit
		want  string
	}{
		{StartLimit{Burst: -1}, "StartLimit.Burst: negative"},
		{StartLimit{Burst: 1, Interval: -time.Second}, "StartLimit.Interval: negative"},
	} {
		s := Spec{Name: "w", Path: "/bin/true", StartLimit: tc.limit}
		if _, err := s.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.limit, err, tc.want)
		}
	}
	s, err := Spec{Name: "w", Path: "/bin/true", StartLimit: StartLimit{Burst: 3}}.withDefaults()
	if err != nil || s.StartLimit.Interval != 10*time.Second {
		t.Errorf("default interval: %v, %v", s.StartLimit.Interval, err)
	}
}
