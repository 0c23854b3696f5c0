package retry_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssmkit/ssmkit/internal/retry"
)

func ExampleBackoff() {
	b := retry.New(100*time.Millisecond, time.Second)
	for range 6 {
		d := b.Next()
		fmt.Println(d >= 50*time.Millisecond && d <= time.Second)
	}
	// Output:
	// true
	// true
	// true
	// true
	// true
	// true
}

// TestBounds: every delay lies within ±50% of its doubling step and never
// past the maximum; Reset starts again from the first step.
func TestBounds(t *testing.T) {
	const initial, max = 10 * time.Millisecond, 300 * time.Millisecond
	for range 50 {
		b := retry.New(initial, max)
		step := initial
		for i := range 10 {
			d := b.Next()
			if lo, hi := step/2, min(step*3/2, max); d < lo || d > hi {
				t.Fatalf("delay %d is %v, want %v to %v", i, d, lo, hi)
			}
			step = min(2*step, max)
		}
		b.Reset()
		if d := b.Next(); d < initial/2 || d > initial*3/2 {
			t.Fatalf("delay after Reset is %v", d)
		}
	}
}

// TestNoJitter: without jitter the delays are the steps exactly, growing
// by the multiplier, capped at the maximum.
func TestNoJitter(t *testing.T) {
	b := &retry.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, time.Second, time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	// Huge multipliers and maxima do not overflow.
	b = &retry.Backoff{Initial: time.Hour, Max: 1<<63 - 1, Multiplier: 1e300, Jitter: 1}
	for range 100 {
		if d := b.Next(); d < 0 {
			t.Fatalf("delay %v", d)
		}
	}
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !retry.Sleep(context.Background(), time.Minute) || time.Since(start) != time.Minute {
			t.Errorf("Sleep returned after %v", time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if retry.Sleep(ctx, time.Hour) {
			t.Error("Sleep did not see the context end")
		}
	})
}
