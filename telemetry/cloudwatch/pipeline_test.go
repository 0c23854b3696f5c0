package cloudwatch

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/telemetry"
)

// TestOutage records a long backlog while CloudWatch is down; when it comes
// back everything arrives, each producer's events in order, and memory
// stays bounded throughout.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("records 200,000 events")
	}
	s := fake(t)
	s.SetDown(true)
	sink := logsSink(s)
	p, err := telemetry.Open(telemetry.Config{Dir: t.TempDir(), Sinks: []telemetry.SinkConfig{{
		Sink: sink, FlushInterval: 10 * time.Millisecond, RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { p.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served; p.Close(context.Background()) }()

	const producers, each = 50, 4000
	var wg sync.WaitGroup
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				e := telemetry.Event{Type: "t", Name: strconv.Itoa(i) + "/" + strconv.Itoa(j)}
				if err := p.Record(ctx, e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 64<<20 {
		t.Errorf("heap in use %d MiB with the backlog pending", ms.HeapInuse>>20)
	}
	if st := p.Status()[0]; st.PendingEvents != producers*each || st.State != telemetry.StateRetrying {
		t.Fatalf("while down: %+v", st)
	}

	s.SetDown(false)
	deadline := time.Now().Add(60 * time.Second)
	for p.Status()[0].PendingEvents > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backlog not delivered: %+v", p.Status()[0])
		}
		<-time.After(20 * time.Millisecond)
	}
	got := s.LogEvents("/ssm/audit", "i-0123")
	if len(got) != producers*each {
		t.Fatalf("%d events arrived, want %d", len(got), producers*each)
	}
	next := make([]int, producers)
	for _, le := range got {
		var l logLine
		if err := json.Unmarshal([]byte(le.Message), &l); err != nil {
			t.Fatal(err)
		}
		pi, ji, _ := strings.Cut(l.Name, "/")
		i, _ := strconv.Atoi(pi)
		j, _ := strconv.Atoi(ji)
		if j != next[i] {
			t.Fatalf("producer %d: event %d arrived when %d was due", i, j, next[i])
		}
		next[i]++
	}
}
