// Package telemetrytest checks implementations of telemetry.Sink against
// the Sink contract, the way testing/slogtest checks slog handlers: a valid
// name that does not change, every event delivered in order, duplicates
// taken (delivery is at least once), odd content (newlines, quotes, '%',
// long values) taken, and a cancelled context honoured.
//
// The smallest use is one test of a sink of your own, with a way to read
// back what it delivered:
//
//	func TestMySink(t *testing.T) {
//		telemetrytest.TestSink(t, func(t *testing.T) (telemetry.Sink, func() []telemetry.Event) {
//			s := &MySink{Dir: t.TempDir()}
//			return s, s.ReadBack
//		})
//	}
//
// Check runs the same checks outside a test and returns what fails.
package telemetrytest

import (
	"context"
	"errors"
	"fmt"
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

// checks are the contract's checks, in order. Each gets a fresh sink.
var checks = []struct {
	name string
	run  func(s telemetry.Sink, delivered func() []telemetry.Event) error
}{
	{"Name", checkName},
	{"DeliversInOrder", func(s telemetry.Sink, delivered func() []telemetry.Event) error {
		events := sample(50)
		if err := sendAll(s, events); err != nil {
			return err
		}
		return checkDelivered(delivered(), events)
	}},
	{"Duplicates", func(s telemetry.Sink, _ func() []telemetry.Event) error {
		// Delivery is at least once: the same events may come again.
		events := sample(5)
		if err := sendAll(s, events); err != nil {
			return err
		}
		return sendAll(s, events)
	}},
	{"OddContent", func(s telemetry.Sink, delivered func() []telemetry.Event) error {
		e := telemetry.Event{ID: "odd-1", Time: time.Now(), Type: "conformance", AgentVersion: "1.0",
			Name:       "spaces and\nnewlines, ünïcödé, \"quotes\" and % signs",
			Attributes: map[string]string{"long": strings.Repeat("x", telemetry.MaxAttrValueBytes), "empty": ""}}
		if err := sendAll(s, []telemetry.Event{e}); err != nil {
			return err
		}
		if got := delivered(); len(got) != 1 || got[0].Type != e.Type {
			return fmt.Errorf("delivered %+v, want the one event", got)
		}
		return nil
	}},
	{"CancelledContext", checkCancelled},
}

// TestSink runs the Sink contract's checks as subtests of t, each with a
// fresh sink from newSink.
func TestSink(t *testing.T, newSink Harness) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			s, delivered := newSink(t)
			if err := c.run(s, delivered); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Check runs the Sink contract's checks outside a test, each with a fresh
// sink from newSink, and returns the failures joined (each names its
// check), or nil.
func Check(newSink func() (sink telemetry.Sink, delivered func() []telemetry.Event)) error {
	var errs []error
	for _, c := range checks {
		s, delivered := newSink()
		if err := c.run(s, delivered); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

func checkName(s telemetry.Sink, _ func() []telemetry.Event) error {
	if !namePattern.MatchString(s.Name()) {
		return fmt.Errorf("Name() = %q, want 1 to 64 of a-z, 0-9, '.', '_', '-'", s.Name())
	}
	if s.Name() != s.Name() {
		return errors.New("Name() changes")
	}
	return nil
}

func checkCancelled(s telemetry.Sink, delivered func() []telemetry.Event) error {
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
		return errors.New("Send on a cancelled context did not return")
	}
	if err == nil && len(delivered()) < n {
		return fmt.Errorf("Send on a cancelled context says %d delivered, the sink has %d", n, len(delivered()))
	}
	return nil
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
func sendAll(s telemetry.Sink, events []telemetry.Event) error {
	for calls := 0; len(events) > 0; calls++ {
		if calls > 1000 {
			return errors.New("the sink takes no events")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := s.Send(ctx, events)
		cancel()
		if err != nil {
			return fmt.Errorf("Send(%d events) = %d, %w", len(events), n, err)
		}
		if n < 0 || n > len(events) {
			return fmt.Errorf("Send(%d events) = %d, outside 0..%d", len(events), n, len(events))
		}
		events = events[n:]
	}
	return nil
}

func checkDelivered(got, want []telemetry.Event) error {
	if len(got) != len(want) {
		return fmt.Errorf("delivered %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Type != want[i].Type {
			return fmt.Errorf("event %d delivered as %s %s, want %s %s", i, got[i].Type, got[i].Name, want[i].Type, want[i].Name)
		}
	}
	return nil
}
