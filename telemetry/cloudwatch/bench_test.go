package cloudwatch

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// BenchmarkLogsBatching delivers 1,000,000 small events through the
// pipeline to CloudWatch Logs and reports the PutLogEvents calls made
// beside the fewest the limits allow (by bytes, counting 26 per event, and
// by the 10,000-event cap).
func BenchmarkLogsBatching(b *testing.B) {
	const total = 1_000_000
	for b.Loop() {
		s := fake(b)
		s.DiscardLogEvents = true
		sink := logsSink(s)
		p, err := telemetry.Open(telemetry.Config{Dir: b.TempDir(), MaxBytes: 1 << 30, Sinks: []telemetry.SinkConfig{{
			Sink: sink, FlushInterval: 10 * time.Millisecond, RetryInitial: 10 * time.Millisecond,
		}}})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range total / 64 {
					p.Record(context.Background(), telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameWorkerStart,
						AgentVersion: "3.3.987.0", Attributes: map[string]string{"n": strconv.Itoa(i*total + j)}})
				}
			}()
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		p.Close(ctx) // delivers the backlog
		cancel()
		if s.Accepted() != total/64*64 {
			b.Fatalf("%d events delivered", s.Accepted())
		}
		calls := s.Calls("PutLogEvents")
		bytes := s.BodyBytes("PutLogEvents")
		minimum := max((bytes+1_048_575)/1_048_576, (total+9999)/10000)
		b.ReportMetric(float64(calls), "calls")
		b.ReportMetric(float64(minimum), "min-calls")
		b.ReportMetric(100*float64(minimum)/float64(calls), "efficiency-%")
	}
}
