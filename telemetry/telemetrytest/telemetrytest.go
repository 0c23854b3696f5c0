// Package telemetrytest checks implementations of telemetry.Sink, the way
// testing/slogtest checks slog handlers.
package telemetrytest

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/telemetry"
)

// A Harness makes a fresh sink for one check and reports what it has
// delivered so far, in order. Delivered events must keep at least their
// Type and Name (an audit file keeps little else).
type Harness func(t *testing.T) (sink telemetry.Sink, delivered func() []telemetry.Event)

var namePattern = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// TestSink runs the Sink contract's checks as subtests of t.
func TestSink(t *testing.T, newSink Harness) {
	t.Run("Name", func(t *testing.T) {
		s, _ := newSink(t)
		if !namePattern.MatchString(s.Name()) {
			t.Fatalf("Name() = %q, want 1 to 64 of a-z, 0-9, '.', '_', '-'", s.Name())
		}
		if s.Name() != s.Name() {
			t.Fatal("Name() changes")
		}
	})
	t.Run("DeliversInOrder", func(t *testing.T) {
		s, delivered := newSink(t)
		events := sample(50)
		sendAll(t, s, events)
		checkDelivered(t, delivered(), events)
	})
	t.Run("Duplicates", func(t *testing.T) {
		// Delivery is at least once: the same events may come again.
		s, _ := newSink(t)
		events := sample(5)
		sendAll(t, s, events)
		sendAll(t, s, events)
	})
	t.Run("OddContent", func(t *testing.T) {
		s, delivered := newSink(t)
		e := telemetry.Event{ID: "odd-1", Time: time.Now(), Type: "conformance", AgentVersion: "1.0",
			Name:       "spaces and\nnewlines, ünïcödé, \"quotes\" and % signs",
			Attributes: map[string]string{"long": strings.Repeat("x", telemetry.MaxAttrValueBytes), "empty": ""}}
		sendAll(t, s, []telemetry.Event{e})
		got := delivered()
		if len(got) != 1 || got[0].Type != e.Type {
			t.Fatalf("delivered %+v", got)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s, delivered := newSink(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan struct{})
		var n int
		var err error
		go func() {
			n, err = s.Send(ctx, sample(3))
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Send on a cancelled context did not return")
		}
		if err == nil && len(delivered()) < n {
			t.Fatalf("Send on a cancelled context says %d delivered, the sink has %d", n, len(delivered()))
		}
	})
}

func sample(n int) []telemetry.Event {
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	out := make([]telemetry.Event, n)
	for i := range out {
		out[i] = telemetry.Event{
			ID: "conformance-" + strconv.Itoa(i), Time: base.Add(time.Duration(i) * time.Millisecond),
			Type: "conformance", Name: "event-" + strconv.Itoa(i), AgentVersion: "1.0.0",
			Attributes: map[string]string{"i": strconv.Itoa(i)},
		}
	}
	return out
}

// sendAll sends events until the sink has taken them all, as the pipeline
// would.
func sendAll(t *testing.T, s telemetry.Sink, events []telemetry.Event) {
	t.Helper()
	for calls := 0; len(events) > 0; calls++ {
		if calls > 1000 {
			t.Fatal("the sink takes no events")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := s.Send(ctx, events)
		cancel()
		if err != nil {
			t.Fatalf("Send(%d events) = %d, %v", len(events), n, err)
		}
		if n < 0 || n > len(events) {
			t.Fatalf("Send(%d events) = %d, outside 0..%d", len(events), n, len(events))
		}
		events = events[n:]
	}
}

func checkDelivered(t *testing.T, got, want []telemetry.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("delivered %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Type != want[i].Type {
			t.Fatalf("event %d delivered as %s %s, want %s %s", i, got[i].Type, got[i].Name, want[i].Type, want[i].Name)
		}
	}
}
