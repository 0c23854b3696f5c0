package telemetrytest_test

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/telemetrytest"
)

// lineSink is a sink of one's own: it writes one line per event to a
// buffer, as a sink to a log collector might.
type lineSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *lineSink) Name() string { return "lines" }

func (s *lineSink) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		fmt.Fprintf(&s.buf, "%q %q\n", e.Type, e.Name)
	}
	return len(events), nil
}

// delivered reads the lines back.
func (s *lineSink) delivered() []telemetry.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []telemetry.Event
	sc := bufio.NewScanner(strings.NewReader(s.buf.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e telemetry.Event
		fmt.Sscanf(sc.Text(), "%q %q", &e.Type, &e.Name)
		out = append(out, e)
	}
	return out
}

// TestSink checks a sink of one's own in its tests; Check does the same
// outside a test.
func ExampleTestSink() {
	testLineSink := func(t *testing.T) { // func TestLineSink(t *testing.T) in a _test.go file
		telemetrytest.TestSink(t, func(t *testing.T) (telemetry.Sink, func() []telemetry.Event) {
			s := &lineSink{}
			return s, s.delivered
		})
	}
	_ = testLineSink

	err := telemetrytest.Check(func() (telemetry.Sink, func() []telemetry.Event) {
		s := &lineSink{}
		return s, s.delivered
	})
	fmt.Println("lineSink keeps the Sink contract:", err == nil)
	// Output:
	// lineSink keeps the Sink contract: true
}

// brokenSink drops the last event of a batch and says it delivered it.
type brokenSink struct{ lineSink }

func (s *brokenSink) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	if len(events) > 1 {
		s.lineSink.Send(ctx, events[:len(events)-1])
		return len(events), nil
	}
	return s.lineSink.Send(ctx, events)
}

// Check names each check that fails.
func ExampleCheck() {
	err := telemetrytest.Check(func() (telemetry.Sink, func() []telemetry.Event) {
		s := &brokenSink{}
		return s, s.delivered
	})
	fmt.Println(err)
	// Output:
	// DeliversInOrder: delivered 49 events, want 50
	// CancelledContext: Send on a cancelled context says 3 delivered, the sink has 0
}

func TestLineSink(t *testing.T) {
	telemetrytest.TestSink(t, func(t *testing.T) (telemetry.Sink, func() []telemetry.Event) {
		s := &lineSink{}
		return s, s.delivered
	})
}
