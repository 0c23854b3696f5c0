package telemetry

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLocalSinkIsPrompt: with the default settings the audit files get an
// event as soon as it is durable, while a remote sink beside them keeps
// gathering for its flush interval (an hour here).
func TestLocalSinkIsPrompt(t *testing.T) {
	dir := t.TempDir()
	audit := &AuditFiles{Dir: filepath.Join(dir, "audits"), Location: time.UTC}
	remote := newMemSink("remote")
	p := run(t, Config{Dir: filepath.Join(dir, "spool"), Sinks: []SinkConfig{{Sink: audit}, {Sink: remote, FlushInterval: time.Hour}}})
	if got := p.cfg.Sinks[0].FlushInterval; got != 0 {
		t.Errorf("audit files' flush interval %v, want 0", got)
	}
	at := time.Now().UTC()
	if err := p.Record(context.Background(), Event{Type: TypeAgentTelemetry, Name: NameAgentStart, Time: at}); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, p.Pipeline, "audit", 1)
	b, err := os.ReadFile(filepath.Join(audit.Dir, auditPrefix+at.Format(auditDate)))
	if err != nil || !strings.Contains(string(b), NameAgentStart) {
		t.Fatalf("audit file: %q, %v", b, err)
	}
	if n := len(remote.events()); n != 0 {
		t.Errorf("the remote sink got %d events before its flush interval", n)
	}
}

// timedAudit is the audit files, noting when each event's line is written.
type timedAudit struct {
	*AuditFiles
	mu   sync.Mutex
	done map[string]time.Time
}

func (a *timedAudit) Send(ctx context.Context, events []Event) (int, error) {
	n, err := a.AuditFiles.Send(ctx, events)
	now := time.Now()
	a.mu.Lock()
	for _, e := range events[:n] {
		a.done[e.ID] = now
	}
	a.mu.Unlock()
	return n, err
}

// BenchmarkRecordToAudit measures how long after Record returns the
// event's line is in its audit file (written and synced), with four
// producers recording as fast as they can.
func BenchmarkRecordToAudit(b *testing.B) {
	dir := b.TempDir()
	audit := &timedAudit{AuditFiles: &AuditFiles{Dir: filepath.Join(dir, "audits")}, done: map[string]time.Time{}}
	p, err := Open(Config{Dir: filepath.Join(dir, "spool"), Sinks: []SinkConfig{{Sink: audit}, {Sink: &SSMChannel{}}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { p.Serve(ctx); close(served) }()
	const producers = 4
	returned := make([]map[string]time.Time, producers)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range producers {
		returned[i] = map[string]time.Time{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range max(b.N/producers, 1) {
				e := benchEvent
				e.ID = newID()
				if err := p.Record(ctx, e); err != nil {
					b.Error(err)
					return
				}
				returned[i][e.ID] = time.Now()
			}
		}()
	}
	wg.Wait()
	waitDelivered(b, p, "audit", uint64(max(b.N/producers, 1)*producers))
	b.StopTimer()
	cancel()
	<-served
	p.Close(context.Background())
	var lat []time.Duration
	for _, m := range returned {
		for id, at := range m {
			lat = append(lat, max(audit.done[id].Sub(at), 0))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
