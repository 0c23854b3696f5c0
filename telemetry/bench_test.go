package telemetry

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var benchEvent = Event{
	Type: typeAgentTelemetry, Name: nameWorkerStart, AgentVersion: "3.3.987.0",
	Time:       time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC),
	Attributes: map[string]string{"InstanceId": "i-0123456789abcdef0"},
}

// BenchmarkRecord measures durable Record throughput and latency with 1, 8
// and 64 concurrent producers, beside a bare loop that appends the same
// record bytes to a file and fdatasyncs after every group of as many
// records as there are producers. ratio is the pipeline's events/s over
// the bare loop's. The two run in turns, four rounds each, so that a
// machine whose load changes meanwhile weighs on both alike.
func BenchmarkRecord(b *testing.B) {
	for _, producers := range []int{1, 8, 64} {
		b.Run("producers="+strconv.Itoa(producers), func(b *testing.B) {
			dir := b.TempDir()
			p, err := Open(Config{Dir: filepath.Join(dir, "spool")})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			e := benchEvent
			e.ID = newID()
			payload, _ := encodeEvent(&e)
			record := appendRecord(nil, 1, payload)

			// The bare loop: the same bytes, the same group size, one
			// write and one fdatasync per group.
			f, err := os.OpenFile(filepath.Join(dir, "bare"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			group := make([]byte, 0, producers*len(record))
			for range producers {
				group = append(group, record...)
			}

			// Each side handles b.N events; the producers run throughout
			// a round, as an agent's would.
			const rounds = 4
			perRound := max(b.N/rounds/producers, 1)
			var bare, pipeline time.Duration
			latencies := make([][]time.Duration, producers)
			b.ResetTimer()
			for range rounds {
				t0 := time.Now()
				for range perRound {
					f.Write(group)
					datasync(f)
				}
				bare += time.Since(t0)

				t1 := time.Now()
				var wg sync.WaitGroup
				for i := range producers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range perRound {
							s := time.Now()
							if err := p.Record(context.Background(), benchEvent); err != nil {
								b.Error(err)
								return
							}
							latencies[i] = append(latencies[i], time.Since(s))
						}
					}()
				}
				wg.Wait()
				pipeline += time.Since(t1)
			}
			b.StopTimer()

			events := float64(rounds * perRound * producers)
			all := slices.Concat(latencies...)
			slices.Sort(all)
			b.ReportMetric(events/pipeline.Seconds(), "events/s")
			b.ReportMetric(events/bare.Seconds(), "bare-events/s")
			b.ReportMetric(bare.Seconds()/pipeline.Seconds(), "ratio")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			p.spool.mu.Lock()
			b.ReportMetric(float64(p.spool.grouped)/float64(max(p.spool.groups, 1)), "records/sync")
			p.spool.mu.Unlock()
		})
	}
}

// BenchmarkPendingHeap records 1,000,000 events for a sink that is down and
// reports the heap in use while they are pending.
func BenchmarkPendingHeap(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		down := newMemSink("down")
		down.send = func([]Event) (int, error) { return 0, errTestDown }
		p, err := Open(Config{Dir: dir, MaxBytes: 1 << 30, Sinks: []SinkConfig{{Sink: down, FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, RetryMax: time.Millisecond}}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Serve(ctx); close(done) }()
		var wg sync.WaitGroup
		const total, producers = 1_000_000, 64
		for range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range total / producers {
					p.Record(ctx, benchEvent)
				}
			}()
		}
		wg.Wait()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := p.Status()[0]
		if st.PendingEvents < total {
			b.Fatalf("only %d pending", st.PendingEvents)
		}
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(st.PendingBytes)/(1<<20), "spool-MiB")
		cancel()
		<-done
		p.Close(context.Background())
	}
}

var errTestDown = os.ErrDeadlineExceeded
