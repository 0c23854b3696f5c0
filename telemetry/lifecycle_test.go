package telemetry

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowSink takes 200 ms for each Send, finishing it even when the context
// ends (as a request already on the wire does), and notes overlaps.
type slowSink struct {
	inSend, overlaps atomic.Int32
	started          chan struct{}
	mu               sync.Mutex
	got              []Event
}

func (s *slowSink) Name() string { return "slow" }

func (s *slowSink) Send(ctx context.Context, events []Event) (int, error) {
	if s.inSend.Add(1) > 1 {
		s.overlaps.Add(1)
	}
	defer s.inSend.Add(-1)
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-time.After(200 * time.Millisecond)
	s.mu.Lock()
	s.got = append(s.got, events...)
	s.mu.Unlock()
	return len(events), nil
}

// TestReadmePatternWithSlowSink is the README's pattern, go p.Serve(ctx)
// and defer p.Close(…), with a sink whose Send takes 200 ms: Close stops
// and joins Serve before delivering the rest, no two Sends overlap, every
// event is delivered, and a second Serve is refused.
func TestReadmePatternWithSlowSink(t *testing.T) {
	sink := &slowSink{started: make(chan struct{}, 1)}
	served := make(chan error, 1)
	func() {
		p, err := Open(Config{Dir: t.TempDir(), Sinks: []SinkConfig{{Sink: sink, FlushInterval: time.Millisecond}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		shutdown, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		defer func() {
			if err := p.Close(shutdown); err != nil {
				t.Error(err)
			}
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			default:
				t.Error("Close returned before Serve had")
			}
			if err := p.Serve(ctx); err == nil {
				t.Error("Serve after Close did not fail")
			}
		}()
		go func() { served <- p.Serve(ctx) }()
		for i := range 50 {
			if err := p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		<-sink.started // Serve is in a Send
		if err := p.Serve(ctx); !errors.Is(err, ErrServing) {
			t.Errorf("second Serve: %v, want ErrServing", err)
		}
		for i := 50; i < 100; i++ {
			p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)})
		}
	}()
	if n := sink.overlaps.Load(); n > 0 {
		t.Errorf("%d Sends overlapped another", n)
	}
	seen := map[string]bool{}
	for _, e := range sink.got {
		seen[e.Name] = true
	}
	if len(seen) != 100 {
		t.Errorf("%d of 100 events delivered", len(seen))
	}
}

// TestServeAgainAfterReturn: a Serve that has returned can be started
// again; Close without Serve delivers.
func TestServeAgainAfterReturn(t *testing.T) {
	sink := newMemSink("s")
	p, err := Open(Config{Dir: t.TempDir(), Sinks: []SinkConfig{fast(sink)}})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Serve(ctx) }()
		p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(round)})
		sink.waitFor(t, round+1)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	p.Record(context.Background(), Event{Type: "t", Name: "last"})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.events()); n != 3 {
		t.Errorf("%d events delivered", n)
	}
}
