package telemetry

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	if err := p.Record(context.Background(), Event{Type: typeAgentTelemetry, Name: nameAgentStart, Time: at}); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, p.Pipeline, "audit", 1)
	b, err := os.ReadFile(filepath.Join(audit.Dir, DefaultAuditPrefix+at.Format(auditDate)))
	if err != nil || !strings.Contains(string(b), nameAgentStart) {
		t.Fatalf("audit file: %q, %v", b, err)
	}
	if n := len(remote.events()); n != 0 {
		t.Errorf("the remote sink got %d events before its flush interval", n)
	}
}

// timedAudit is the audit files, noting when each Send returns.
type timedAudit struct {
	*AuditFiles
	mu     sync.Mutex
	synced map[string]time.Time // by event name
}

func (a *timedAudit) Send(ctx context.Context, events []Event) (int, error) {
	n, err := a.AuditFiles.Send(ctx, events)
	now := time.Now()
	a.mu.Lock()
	for _, e := range events[:n] {
		a.synced[e.Name] = now
	}
	a.mu.Unlock()
	return n, err
}

// tailAudit reads the audit file as it grows, noting when each line is
// first there, until stop is closed.
func tailAudit(path string, stop <-chan struct{}) map[string]time.Time {
	seen := map[string]time.Time{}
	var off int64
	var partial []byte
	buf := make([]byte, 1<<20)
	tick := time.NewTicker(250 * time.Microsecond)
	defer tick.Stop()
	for {
		f, err := os.Open(path)
		if err == nil {
			for {
				n, _ := f.ReadAt(buf, off)
				if n == 0 {
					break
				}
				now := time.Now()
				off += int64(n)
				partial = append(partial, buf[:n]...)
				for {
					i := bytes.IndexByte(partial, '\n')
					if i < 0 {
						break
					}
					if fields := strings.Fields(string(partial[:i])); len(fields) == 4 {
						seen[fields[1]] = now
					}
					partial = partial[i+1:]
				}
			}
			f.Close()
		}
		select {
		case <-stop:
			return seen
		case <-tick.C:
		}
	}
}

// BenchmarkRecordToAudit measures how long after Record returns the
// event's line is in its audit file: p50-ms and p99-ms when a reader of
// the file first sees it, synced-p99-ms when the sink has also synced it
// (its Send returned). Four producers record as fast as they can, beside
// a pending AWS channel, as in the reference agent.
func BenchmarkRecordToAudit(b *testing.B) {
	dir := b.TempDir()
	audit := &timedAudit{AuditFiles: &AuditFiles{Dir: filepath.Join(dir, "audits"), Location: time.UTC}, synced: map[string]time.Time{}}
	p, err := Open(Config{Dir: filepath.Join(dir, "spool"), Sinks: []SinkConfig{{Sink: audit}, {Sink: pendingSink()}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { p.Serve(ctx); close(served) }()
	at := time.Now().UTC()
	stop := make(chan struct{})
	tailed := make(chan map[string]time.Time)
	go func() { tailed <- tailAudit(filepath.Join(audit.Dir, DefaultAuditPrefix+at.Format(auditDate)), stop) }()

	const producers = 4
	per := max(b.N/producers, 1)
	returned := make([]map[string]time.Time, producers)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range producers {
		returned[i] = map[string]time.Time{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range per {
				e := benchEvent
				e.Time, e.Name = at, "bench."+strconv.Itoa(i*per+j)
				if err := p.Record(ctx, e); err != nil {
					b.Error(err)
					return
				}
				returned[i][e.Name] = time.Now()
			}
		}()
	}
	wg.Wait()
	waitDelivered(b, p, "audit", uint64(per*producers))
	b.StopTimer()
	close(stop)
	seen := <-tailed
	cancel()
	<-served
	p.Close(context.Background())
	var visible, synced []time.Duration
	for _, m := range returned {
		for name, t := range m {
			visible = append(visible, max(seen[name].Sub(t), 0))
			synced = append(synced, max(audit.synced[name].Sub(t), 0))
		}
	}
	slices.Sort(visible)
	slices.Sort(synced)
	pct := func(d []time.Duration, q int) float64 { return float64(d[len(d)*q/100].Microseconds()) / 1000 }
	b.ReportMetric(pct(visible, 50), "p50-ms")
	b.ReportMetric(pct(visible, 99), "p99-ms")
	b.ReportMetric(pct(synced, 99), "synced-p99-ms")
}
