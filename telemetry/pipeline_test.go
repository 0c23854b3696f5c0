package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testTimeout = 20 * time.Second

// memSink keeps what it receives; send, when set, decides each call's outcome.
type memSink struct {
	name   string
	mu     sync.Mutex
	got    []Event
	calls  int
	send   func(events []Event) (int, error)
	signal chan struct{}
}

func newMemSink(name string) *memSink { return &memSink{name: name, signal: make(chan struct{}, 1)} }

func (m *memSink) Name() string { return m.name }

// pendingSink is a sink without an endpoint, such as the SSM channel
// without a sender.
func pendingSink() Sink {
	s := newMemSink("ssm")
	s.send = func([]Event) (int, error) { return 0, ErrNotConfigured }
	return s
}

func (m *memSink) Send(ctx context.Context, events []Event) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	n, err := len(events), error(nil)
	if m.send != nil {
		n, err = m.send(events)
	}
	if err == nil || !IsPermanent(err) && !errors.Is(err, ErrNotConfigured) {
		m.got = append(m.got, events[:n]...)
	}
	select {
	case m.signal <- struct{}{}:
	default:
	}
	return n, err
}

func (m *memSink) events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.got...)
}

// waitFor waits until the sink has received n events.
func (m *memSink) waitFor(t testing.TB, n int) []Event {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		if got := m.events(); len(got) >= n {
			return got
		}
		select {
		case <-m.signal:
		case <-deadline:
			t.Fatalf("sink %s has %d events, want %d", m.name, len(m.events()), n)
		}
	}
}

// serving is a pipeline whose Serve runs in the background.
type serving struct {
	*Pipeline
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends Serve and waits for it, so that the status is final.
func (s *serving) stop() {
	s.cancel()
	<-s.done
}

// run opens a pipeline, serves it in the background, and closes it at
// cleanup.
func run(t testing.TB, cfg Config) *serving {
	t.Helper()
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{Pipeline: p, cancel: cancel, done: make(chan struct{})}
	go func() { p.Serve(ctx); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		defer ccancel()
		p.Close(cctx)
	})
	return s
}

// waitDelivered waits until the named sink has had at least n events.
func waitDelivered(t testing.TB, p *Pipeline, sink string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		for _, st := range p.Status() {
			if st.Name == sink && st.Delivered >= n && st.PendingEvents == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink %s: %+v", sink, p.Status())
		}
		time.Sleep(time.Millisecond)
	}
}

// scanFile scans the segment file at path.
func scanFile(t testing.TB, path string, first uint64) (size int64, last uint64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, last, err = scanSegment(f, first)
	if err != nil {
		t.Fatal(err)
	}
	return size, last
}

// segmentFiles lists the spool's segment files (not the spare one).
func segmentFiles(t testing.TB, dir string) []string {
	entries, err := os.ReadDir(filepath.Join(dir, "segments"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

func fast(s Sink) SinkConfig {
	return SinkConfig{Sink: s, FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond}
}

func TestRecordAndDeliver(t *testing.T) {
	a, b := newMemSink("a"), newMemSink("b")
	p := run(t, Config{Dir: t.TempDir(), AgentVersion: "3.1.0.0", Sinks: []SinkConfig{fast(a), fast(b)}})
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC)
	if err := p.Record(ctx, Event{Type: typeAgentTelemetry, Name: nameAgentStart, Time: at, Attributes: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 99 {
		if err := p.Record(ctx, Event{Type: "t", Name: "n" + strconv.Itoa(i), AgentVersion: "9"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*memSink{a, b} {
		got := s.waitFor(t, 100)
		if len(got) != 100 {
			t.Fatalf("%s got %d events", s.name, len(got))
		}
		e := got[0]
		if e.ID == "" || !e.Time.Equal(at) || e.Type != typeAgentTelemetry || e.AgentVersion != "3.1.0.0" || e.Attributes["k"] != "v" {
			t.Errorf("%s: first event %+v", s.name, e)
		}
		for i, e := range got[1:] {
			if e.Name != "n"+strconv.Itoa(i) || e.AgentVersion != "9" {
				t.Fatalf("%s: event %d = %+v, out of order or changed", s.name, i+1, e)
			}
		}
	}
	p.stop()
	st := p.Status()
	if len(st) != 2 || st[0].Delivered != 100 || st[0].PendingEvents != 0 || st[0].State != StateOK {
		t.Errorf("status %+v", st)
	}
}

func TestRecordValidates(t *testing.T) {
	p, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	tests := []struct {
		e    Event
		want string
	}{
		{Event{Name: "n"}, "Type is empty"},
		{Event{Type: "t"}, "Name is empty"},
		{Event{Type: "t", Name: strings.Repeat("n", MaxNameBytes+1)}, "Name is 1025 bytes, the limit is 1024"},
		{Event{Type: "t", Name: "\xff"}, "Name is not valid UTF-8"},
		{Event{Type: "t", Name: "n", Attributes: map[string]string{"": "v"}}, "attribute key is empty"},
		{Event{Type: "t", Name: "n", Attributes: map[string]string{"k": strings.Repeat("v", MaxAttrValueBytes+1)}}, `attribute "k" is 4097 bytes`},
		{Event{Type: "t", Name: "n", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "outside the years"},
	}
	for _, tt := range tests {
		if err := p.Record(ctx, tt.e); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Record(%.60v) = %v, want %q", tt.e, err, tt.want)
		}
	}
	many := map[string]string{}
	for i := range MaxAttributes + 1 {
		many[strconv.Itoa(i)] = "v"
	}
	if err := p.Record(ctx, Event{Type: "t", Name: "n", Attributes: many}); err == nil {
		t.Error("too many attributes accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Record(cctx, Event{Type: "t", Name: "n"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Record on a cancelled context = %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Dir is empty"},
		{Config{Dir: dir, SegmentBytes: 1 << 20, MaxBytes: 1 << 20}, "less than four segments"},
		{Config{Dir: dir, Sinks: []SinkConfig{{}}}, "Sinks[0].Sink is nil"},
		{Config{Dir: dir, Sinks: []SinkConfig{{Sink: newMemSink("Bad Name")}}}, `sink name "Bad Name"`},
		{Config{Dir: dir, Sinks: []SinkConfig{{Sink: newMemSink("a")}, {Sink: newMemSink("a")}}}, `two sinks named "a"`},
		{Config{Dir: dir, Sinks: []SinkConfig{{Sink: newMemSink("a"), FlushInterval: -1}}}, "Config.Sinks[0] (a): SinkConfig.FlushInterval is negative"},
		{Config{Dir: dir, Sinks: []SinkConfig{{Sink: newMemSink("a"), MaxPendingBytes: -1}}}, "SinkConfig.MaxPendingBytes is negative"},
		{Config{Dir: dir, Sinks: []SinkConfig{{Sink: newMemSink("a"), MaxBatch: -5}}}, "SinkConfig.MaxBatch is negative (-5)"},
		{Config{Dir: dir, Sinks: []SinkConfig{{Sink: newMemSink("a"), RetryInitial: time.Minute, RetryMax: time.Second}}}, "SinkConfig.RetryMax (1s) is less than RetryInitial (1m0s)"},
		{Config{Dir: dir, SegmentBytes: -1}, "Config.SegmentBytes is -1"},
		{Config{Dir: dir, SegmentBytes: 100}, "Config.SegmentBytes is 100, want at least 4096"},
		{Config{Dir: dir, MaxBytes: -1}, "Config.MaxBytes is -1"},
		{Config{Dir: dir, AgentVersion: "\xff"}, "Config.AgentVersion"},
		{Config{Dir: dir, AgentVersion: strings.Repeat("1", MaxVersionBytes+1)}, "Config.AgentVersion"},
	}
	for _, tt := range tests {
		if _, err := Open(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestRestartResumesFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	sink := newMemSink("s")
	p, err := Open(Config{Dir: dir, Sinks: []SinkConfig{fast(sink)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)})
	}
	if err := p.Close(ctx); err != nil { // delivers the 10
		t.Fatal(err)
	}
	if n := len(sink.events()); n != 10 {
		t.Fatalf("Close delivered %d", n)
	}
	// Recorded while no one serves, then a restart.
	p, _ = Open(Config{Dir: dir, Sinks: []SinkConfig{fast(sink)}})
	for i := 10; i < 15; i++ {
		p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)})
	}
	p.Close(context.Background())
	p2 := run(t, Config{Dir: dir, Sinks: []SinkConfig{fast(sink)}})
	_ = p2
	got := sink.waitFor(t, 15)
	for i, e := range got {
		if e.Name != strconv.Itoa(i) {
			t.Fatalf("event %d is %q: resent or skipped", i, e.Name)
		}
	}
}

func TestTornRecordIsCutOff(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)})
	}
	p.Close(ctx)
	seg := filepath.Join(dir, "segments", segmentName(1))
	// Simulate a crash in the middle of writing a fourth record: its first
	// bytes are where the zeros after the third record were.
	f, _ := os.OpenFile(seg, os.O_RDWR, 0)
	size, _ := scanFile(t, seg, 1)
	partial := appendRecord(nil, 4, []byte(`{"id":"x","type":"t","name":"3"}`))
	f.WriteAt(partial[:len(partial)-5], size)
	f.Close()

	sink := newMemSink("s")
	p2 := run(t, Config{Dir: dir, Sinks: []SinkConfig{fast(sink)}})
	p2.Record(ctx, Event{Type: "t", Name: "after"})
	got := sink.waitFor(t, 4)
	names := []string{}
	for _, e := range got {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "0,1,2,after" {
		t.Errorf("delivered %v", names)
	}
}

func TestSegmentsRotateAndAreCollected(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink("s")
	p := run(t, Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 1 << 20, Sinks: []SinkConfig{fast(sink)}})
	for i := range 500 {
		p.Record(context.Background(), Event{Type: "t", Name: strconv.Itoa(i)})
	}
	sink.waitFor(t, 500)
	deadline := time.Now().Add(testTimeout)
	for {
		n := len(segmentFiles(t, dir))
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d segments left after delivery", n)
		}
		p.collect()
	}
}

func TestSpoolLimitDropsOldestAndSaysSo(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	stuck := newMemSink("stuck")
	stuck.send = func([]Event) (int, error) { return 0, errors.New("down") }
	p, err := Open(Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 16384, Sinks: []SinkConfig{fast(stuck)}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	for i := range 2000 {
		if err := p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)}); err != nil {
			t.Fatalf("Record %d: %v (must never fail or block for a full spool)", i, err)
		}
	}
	if size := p.spool.size(); size > 16384+4096 {
		t.Errorf("spool is %d bytes, over its limit", size)
	}
	st := p.Status()[0]
	if st.Dropped == 0 || st.Dropped >= 2000 {
		t.Fatalf("dropped %d", st.Dropped)
	}
	// The drop was recorded as an event, which the sink will get.
	stuck.send = nil
	p.Close(ctx)
	var dropEvents, kept int
	var counted uint64
	for _, e := range stuck.events() {
		if e.Type == TypeTelemetry && e.Name == NameDropped {
			dropEvents++
			n, _ := strconv.ParseUint(e.Attributes[AttrCount], 10, 64)
			counted += n
			if e.Attributes[AttrSink] != "stuck" {
				t.Errorf("drop event %+v", e)
			}
		} else {
			kept++
		}
	}
	// Drop events can themselves be dropped while the sink is stuck; the
	// status counts every drop.
	if dropEvents == 0 || counted == 0 || counted > st.Dropped {
		t.Errorf("%d drop events counting %d, status says %d dropped", dropEvents, counted, st.Dropped)
	}
	if uint64(kept)+st.Dropped < 2000 {
		t.Errorf("kept %d + dropped %d < 2000 recorded: some vanished uncounted", kept, st.Dropped)
	}
}

func TestUnlistedSinkHoldsNothingBack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// A sink that existed once and left a checkpoint far behind.
	os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o700)
	os.WriteFile(filepath.Join(dir, "checkpoints", "gone.json"), []byte(`{"seq":0}`), 0o600)
	sink := newMemSink("s")
	p := run(t, Config{Dir: dir, SegmentBytes: 4096, Sinks: []SinkConfig{fast(sink)}})
	for i := range 300 {
		p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)})
	}
	sink.waitFor(t, 300)
	p.collect()
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Errorf("%d segments kept for a sink that is not configured", n)
	}
}

func TestPermanentErrorDropsBatch(t *testing.T) {
	sink := newMemSink("s")
	sink.send = func(events []Event) (int, error) {
		if events[0].Name == "poison" {
			return 1, Permanent(errors.New("InvalidParameterException: bad event"))
		}
		return len(events), nil
	}
	var mu sync.Mutex
	var reported []string
	p := run(t, Config{Dir: t.TempDir(), Sinks: []SinkConfig{fast(sink)}, OnError: func(s string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			reported = append(reported, err.Error())
		}
	}})
	ctx := context.Background()
	p.Record(ctx, Event{Type: "t", Name: "poison"})
	p.Record(ctx, Event{Type: "t", Name: "good"})
	got := sink.waitFor(t, 1)
	if got[0].Name != "good" {
		t.Errorf("delivered %v", got)
	}
	p.stop()
	st := p.Status()[0]
	if st.Dropped != 1 || !strings.Contains(st.LastError, "bad event") {
		t.Errorf("status %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 {
		t.Errorf("OnError told %v", reported)
	}
}

func TestRetryableErrorsRetryWithBackoff(t *testing.T) {
	sink := newMemSink("s")
	failures := 3
	sink.send = func(events []Event) (int, error) {
		if failures > 0 {
			failures--
			return 0, errors.New("ThrottlingException: slow down")
		}
		return len(events), nil
	}
	p := run(t, Config{Dir: t.TempDir(), Sinks: []SinkConfig{fast(sink)}})
	p.Record(context.Background(), Event{Type: "t", Name: "n"})
	sink.waitFor(t, 1)
	p.stop()
	st := p.Status()[0]
	if st.Retries != 3 || st.State != StateOK || st.Delivered != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestPartialSendsContinue(t *testing.T) {
	sink := newMemSink("s")
	sink.send = func(events []Event) (int, error) { return min(len(events), 7), nil } // 7 per request
	p := run(t, Config{Dir: t.TempDir(), Sinks: []SinkConfig{fast(sink)}})
	for i := range 50 {
		p.Record(context.Background(), Event{Type: "t", Name: strconv.Itoa(i)})
	}
	got := sink.waitFor(t, 50)
	for i, e := range got {
		if e.Name != strconv.Itoa(i) {
			t.Fatalf("event %d is %s", i, e.Name)
		}
	}
}

func TestPendingSinkSaysSoOnce(t *testing.T) {
	sink := newMemSink("s")
	configured := false
	var mu sync.Mutex
	sink.send = func(events []Event) (int, error) {
		if !configured {
			return 0, fmt.Errorf("no endpoint: %w", ErrNotConfigured)
		}
		return len(events), nil
	}
	told := 0
	cfg := fast(sink)
	cfg.RetryMax = time.Millisecond // so that a loop would show
	dir := t.TempDir()
	p := run(t, Config{Dir: dir, Sinks: []SinkConfig{cfg}, OnError: func(string, error) { mu.Lock(); told++; mu.Unlock() }})
	for i := range 5 {
		p.Record(context.Background(), Event{Type: "t", Name: strconv.Itoa(i)})
	}
	// Wait for a few attempts.
	deadline := time.Now().Add(testTimeout)
	for {
		sink.mu.Lock()
		calls := sink.calls
		sink.mu.Unlock()
		if calls >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sink was not tried")
		}
		<-sink.signal
	}
	st := p.Status()[0]
	mu.Lock()
	n := told
	mu.Unlock()
	if st.State != StatePending || st.PendingEvents != 5 || n != 1 {
		t.Errorf("status %+v; OnError called %d times, want once", st, n)
	}
	sink.mu.Lock()
	configured = true
	sink.mu.Unlock()
	sink.waitFor(t, 5)
}
