package supervisor

import (
	"fmt"
	"math"
	"time"

	"github.com/ssmkit/ssmkit/internal/retry"
)

// restarter decides, after each unplanned exit of a worker, how long to wait
// before the restart and whether to give up. It holds no timers: callers
// pass the time in.
type restarter struct {
	stableAfter time.Duration
	intensity   Intensity
	limit       StartLimit
	starts      []time.Time    // the starts within the last limit.Interval
	bo          *retry.Backoff // nil when restarts have no delay

	failures    float64   // the decaying failure count
	lastFailure time.Time // when failures was last updated
}

func newRestarter(s *Spec) *restarter {
	r := &restarter{stableAfter: s.StableAfter, intensity: s.Intensity, limit: s.StartLimit}
	if s.Backoff.Initial > 0 {
		r.bo = &retry.Backoff{
			Initial:    s.Backoff.Initial,
			Max:        s.Backoff.Max,
			Multiplier: s.Backoff.Multiplier,
			Jitter:     s.Backoff.Jitter,
		}
	}
	return r
}

// exited records an unplanned exit at now, of any status, of a process
// that ran for ran. It returns the delay before the restart, or giveUp when
// the worker failed too often or reached its start limit.
func (r *restarter) exited(now time.Time, ran time.Duration) (delay time.Duration, giveUp bool) {
	if r.limit.Burst > 0 {
		// Like systemd's StartLimitBurst: every start counts, however
		// the process ended; the next start would be one too many.
		r.starts = append(r.starts, now.Add(-ran))
		cut := 0
		for cut < len(r.starts) && now.Sub(r.starts[cut]) > r.limit.Interval {
			cut++
		}
		r.starts = append(r.starts[:0], r.starts[cut:]...)
		if len(r.starts) >= r.limit.Burst {
			return 0, true
		}
	}
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
	return r.bo.Next(), false
}

// reset forgets all failures, for a worker started again by hand.
func (r *restarter) reset() {
	r.failures, r.lastFailure, r.starts = 0, time.Time{}, nil
	if r.bo != nil {
		r.bo.Reset()
	}
}

// giveUpReason says why the worker was given up on, after exited said so.
func (r *restarter) giveUpReason(last string) string {
	if r.limit.Burst > 0 && len(r.starts) >= r.limit.Burst {
		return fmt.Sprintf("start limit: %d starts within %v (StartLimit.Burst %d); last: %s", len(r.starts), r.limit.Interval, r.limit.Burst, last)
	}
	return fmt.Sprintf("failed too often (failure count %.1f over MaxFailures %g); last: %s", r.failures, r.intensity.MaxFailures, last)
}
