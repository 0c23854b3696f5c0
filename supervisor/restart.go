package supervisor

import (
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// restarter decides, after each unplanned exit of a worker, how long to wait
// before the restart and whether to give up. It holds no timers: callers
// pass the time in.
type restarter struct {
	stableAfter time.Duration
	intensity   Intensity
	bo          *backoff.ExponentialBackOff // nil when restarts have no delay

	failures    float64   // the decaying failure count
	lastFailure time.Time // when failures was last updated
}

func newRestarter(s *Spec) *restarter {
	r := &restarter{stableAfter: s.StableAfter, intensity: s.Intensity}
	if s.Backoff.Initial > 0 {
		r.bo = backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(s.Backoff.Initial),
			backoff.WithMaxInterval(s.Backoff.Max),
			backoff.WithMultiplier(s.Backoff.Multiplier),
			backoff.WithRandomizationFactor(s.Backoff.Jitter),
			backoff.WithMaxElapsedTime(0), // never stop on its own
		)
	}
	return r
}

// exited records an unplanned exit at now of a process that ran for ran.
// It returns the delay before the restart, or giveUp when the worker failed
// too often.
func (r *restarter) exited(now time.Time, ran time.Duration) (delay time.Duration, giveUp bool) {
	if !r.lastFailure.IsZero() {
		halfLives := now.Sub(r.lastFailure).Seconds() / r.intensity.Decay.Seconds()
		r.failures *= math.Pow(0.5, halfLives)
	}
	r.failures++
	r.lastFailure = now
	if r.intensity.MaxFailures >= 0 && r.failures > r.intensity.MaxFailures {
		return 0, true
	}
	if r.bo == nil {
		return 0, false
	}
	if ran >= r.stableAfter {
		// A worker that ran well restarts at once after a single crash;
		// the backoff starts again from its first delay after that.
		r.bo.Reset()
		return 0, false
	}
	return r.bo.NextBackOff(), false
}

// reset forgets all failures, for a worker started again by hand.
func (r *restarter) reset() {
	r.failures, r.lastFailure = 0, time.Time{}
	if r.bo != nil {
		r.bo.Reset()
	}
}
