// Package retry is the one backoff of the module's redial and resend loops:
// the workerproto worker's redial, the SSM v3 worker's redial and the
// telemetry pipeline's resends. It is cenkalti/backoff/v4's exponential
// backoff (which the supervisor configures itself from its Spec) with one
// policy: each delay doubles, from Initial up to Max, and is randomized by
// ±50% so that many processes retrying at once spread out, but never past
// Max.
//
//	b := retry.New(10*time.Millisecond, time.Second)
//	for !try() {
//		if !retry.Sleep(ctx, b.Next()) {
//			return context.Cause(ctx)
//		}
//	}
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Randomization is the fraction by which each delay varies either way.
const Randomization = 0.5

// A Backoff yields the delays before successive retries. It is not safe
// for concurrent use.
type Backoff struct {
	bo  *backoff.ExponentialBackOff
	max time.Duration
}

// New returns a Backoff whose delays start about initial and grow to at
// most max. Both must be positive, and max at least initial.
func New(initial, max time.Duration) *Backoff {
	return &Backoff{max: max, bo: backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(max),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(Randomization),
		backoff.WithMaxElapsedTime(0), // never stop on its own
	)}
}

// Next returns the delay before the next retry.
func (b *Backoff) Next() time.Duration { return min(b.bo.NextBackOff(), b.max) }

// Reset starts the delays again from the initial one, after a success.
func (b *Backoff) Reset() { b.bo.Reset() }

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
