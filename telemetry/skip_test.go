package telemetry

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPendingSinkIsBounded: a sink that is not configured keeps about
// MaxPendingBytes in the spool; older events are dropped for it, counted
// and recorded, while a working sink gets everything.
func TestPendingSinkIsBounded(t *testing.T) {
	dir := t.TempDir()
	ok := newMemSink("ok")
	pending := fast(pendingSink())
	pending.MaxPendingBytes = 8192
	p := run(t, Config{Dir: dir, SegmentBytes: 4096, Sinks: []SinkConfig{fast(ok), pending}})
	for i := range 1000 {
		if err := p.Record(context.Background(), Event{Type: "t", Name: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ok.waitFor(t, 1000)
	deadline := time.Now().Add(testTimeout)
	for {
		st := p.Status()[1]
		if st.State == StatePending && st.PendingBytes <= 8192+4096 && len(segmentFiles(t, dir)) <= 4 {
			if st.Dropped < 900 {
				t.Errorf("pending sink: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending sink: %+v; %d segments", st, len(segmentFiles(t, dir)))
		}
		select {
		case <-ok.signal:
		case <-time.After(10 * time.Millisecond):
		}
	}
	var counted uint64
	for _, e := range ok.events() {
		if e.Name == NameDropped && e.Attributes[AttrSink] == "ssm" {
			n, _ := strconv.ParseUint(e.Attributes[AttrCount], 10, 64)
			counted += n
		}
	}
	if counted == 0 {
		t.Error("the drops were not recorded")
	}
}

// TestUndecodableRecordIsSkippedInOrder: a checksummed record that is not
// an event is dropped and counted when the sink reaches it, never before
// the events ahead of it are delivered (the checkpoint does not pass
// them).
func TestUndecodableRecordIsSkippedInOrder(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	down := newMemSink("s")
	down.send = func([]Event) (int, error) { return 0, errTestDown }
	p, err := Open(Config{Dir: dir, Sinks: []SinkConfig{fast(down)}})
	if err != nil {
		t.Fatal(err)
	}
	p.Record(ctx, Event{Type: "t", Name: "before"})
	p.spool.arrive()
	if err := p.spool.append([]byte("not an event")); err != nil {
		t.Fatal(err)
	}
	p.Record(ctx, Event{Type: "t", Name: "after"})
	p.deliver(ctx, p.sinks[0])
	p.save(p.sinks[0])
	if cp := p.sinks[0].checkpoint.Load(); cp != 0 {
		t.Fatalf("checkpoint %d while the first event is undelivered", cp)
	}
	down.send = nil
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range down.events() {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "before,after" {
		t.Errorf("delivered %v", names)
	}
	if st := p.Status()[0]; st.Dropped != 1 || st.PendingEvents != 0 {
		t.Errorf("status %+v", st)
	}
}
