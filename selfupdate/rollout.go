package selfupdate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

// The decision Serve makes, in functions of their own so that the fleet
// simulation (fleet_bench_test.go) runs exactly this code: the manifest's
// query, when the decided update may happen (rollout and window), and when
// to check next.

// query is the manifest query of an agent configured by cfg, at now.
func (cfg *Config) query(now time.Time) manifest.Query {
	return manifest.Query{Package: cfg.Package, Platform: cfg.Platform, Current: cfg.Current, AllowDowngrade: cfg.AllowDowngrade,
		InstanceID: cfg.InstanceID, Group: cfg.Group, At: now}
}

// planFor decides on manifest m for query q (q.At is now) and says when
// the update, if there is one to make, may happen given window w.
func planFor(m *manifest.Manifest, q manifest.Query, w *Window, manifestURL, region string) (*Plan, error) {
	d, err := m.Decide(q)
	if err != nil {
		return nil, err
	}
	plan := &Plan{ManifestURL: manifestURL, Decision: d, Rollout: d.Rollout}
	if d.Target != nil {
		if plan.URL, err = m.URL(region, d.Package, d.File, d.Target.Version); err != nil {
			return nil, err
		}
		if err := checkPackageURL(manifestURL, plan.URL); err != nil {
			return nil, err
		}
	}
	if at, end, ok := allowedAt(d, w, q.At); ok {
		plan.windowEnd = end
		if at.After(q.At) {
			plan.NextAllowed = at
		}
	}
	return plan, nil
}

// allowedAt says when the update that decision d calls for may happen, at
// or after now: at the later of its rollout's opening and now, moved to
// the next opening of window w if that is not in one; end is the end of
// that opening (zero without a window). It is false when the update may
// not happen as the manifest stands: there is none, its rollout is paused,
// or it never opens for this agent.
func allowedAt(d manifest.Decision, w *Window, now time.Time) (at, end time.Time, ok bool) {
	if d.Target == nil {
		return time.Time{}, time.Time{}, false
	}
	at = now
	switch r := d.Rollout; {
	case r == nil || (r.Open && !r.Paused):
		if d.Action != manifest.ActionUpdate {
			return time.Time{}, time.Time{}, false
		}
	case r.Paused || r.OpensAt.IsZero():
		return time.Time{}, time.Time{}, false
	case r.OpensAt.After(now):
		at = r.OpensAt
	}
	if w.IsZero() {
		return at, time.Time{}, true
	}
	start, end := w.Next(at)
	if start.IsZero() {
		return time.Time{}, time.Time{}, false // never opens
	}
	if start.After(at) {
		at = start
	}
	return at, end, true
}

// nextCheck returns how long after a check at now Serve waits for the next
// one, given the check's plan (nil when it failed): the schedule's period
// plus its jitter — or, when an update is due but not yet allowed, until
// the allowed time plus a jitter spread over the rest of the window's
// opening (without a window, over the schedule's JitterMax), if that comes
// sooner. Either way a fleet does not wake in one second. rnd(n) returns a
// random number in [0, n).
func nextCheck(s Schedule, plan *Plan, now time.Time, rnd func(n int64) int64) time.Duration {
	period := time.Duration(s.Days)*24*time.Hour + s.jitter(rnd)
	if plan == nil || plan.NextAllowed.IsZero() {
		return period
	}
	spread := s.JitterMax
	if !plan.windowEnd.IsZero() {
		spread = plan.windowEnd.Sub(plan.NextAllowed)
	}
	wait := plan.NextAllowed.Sub(now)
	if spread > 0 {
		wait += time.Duration(rnd(int64(spread)))
	}
	return max(min(wait, period), 0)
}

// jitter returns a random delay in [JitterMin, JitterMax].
func (s Schedule) jitter(rnd func(n int64) int64) time.Duration {
	return s.JitterMin + time.Duration(rnd(int64(s.JitterMax-s.JitterMin)+1))
}

// defaultRand is the random source of Serve.
func defaultRand(n int64) int64 { return rand.Int64N(n) }

// checkWindow validates cfg.Window for New.
func checkWindow(cfg *Config) error {
	if cfg.Window == nil {
		return nil
	}
	if err := cfg.Window.Validate(); err != nil {
		return fmt.Errorf("selfupdate: Config.%w", err)
	}
	return nil
}
