// Package retry is the one jittered exponential backoff of the module: the
// supervisor's restarts (configured from its Spec), the workerproto and
// SSM v3 workers' redials and the telemetry pipeline's resends all draw
// their delays from a Backoff. It uses the standard library only, so that
// the packages that promise as much keep their word.
//
//	b := retry.New(10*time.Millisecond, time.Second) // doubling, ±50%
//	for !try() {
//		if !retry.Sleep(ctx, b.Next()) {
//			return context.Cause(ctx)
//		}
//	}
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// DefaultJitter is the jitter New sets: delays vary by half either way, so
// that many processes retrying at once spread out.
const DefaultJitter = 0.5

// A Backoff yields the delays before successive retries: Initial, then
// each step Multiplier times the one before up to Max, each randomized by
// ±Jitter of itself and never more than Max. The fields are read at every
// Next; a Backoff is not safe for concurrent use.
type Backoff struct {
	// Initial is the first step; it must be positive.
	Initial time.Duration
	// Max is the longest step and delay; below Initial it is Initial.
	Max time.Duration
	// Multiplier is the growth of each step; below 1 it is 1.
	Multiplier float64
	// Jitter is the random variation, a fraction from 0 (none) to 1.
	Jitter float64

	step time.Duration // the current step; 0 before the first Next
}

// New returns a Backoff from initial to max, doubling, with DefaultJitter.
func New(initial, max time.Duration) *Backoff {
	return &Backoff{Initial: initial, Max: max, Multiplier: 2, Jitter: DefaultJitter}
}

// Next returns the delay before the next retry.
func (b *Backoff) Next() time.Duration {
	limit := max(b.Max, b.Initial)
	if b.step == 0 {
		b.step = b.Initial
	} else if next := float64(b.step) * max(b.Multiplier, 1); next < float64(limit) {
		b.step = time.Duration(next)
	} else {
		b.step = limit
	}
	j := min(max(b.Jitter, 0), 1)
	if j == 0 {
		return b.step
	}
	spread := j * float64(b.step)
	f := float64(b.step) - spread + rand.Float64()*2*spread
	if f >= float64(limit) { // before the conversion, which could overflow
		return limit
	}
	return max(time.Duration(f), 0)
}

// Reset starts the delays again from Initial, after a success.
func (b *Backoff) Reset() { b.step = 0 }

// Sleep waits for d, and reports false if ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
