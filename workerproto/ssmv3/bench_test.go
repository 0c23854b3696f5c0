package ssmv3

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

// reportLatencies reports the p50 and p99 of the round trips measured, in
// microseconds.
func reportLatencies(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(p float64) float64 { return float64(d[int(float64(len(d)-1)*p)].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-us")
	b.ReportMetric(at(0.99), "p99-us")
}

// BenchmarkSurveyRoundTrip measures one Core.Health round trip — the
// survey sent to every respondent, every answer read and checked — with 1
// and 20 Worker respondents, and, for comparison, one workerproto ping
// round trip between a Listener's Conn and a Worker.
func BenchmarkSurveyRoundTrip(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("respondents=%d", n), func(b *testing.B) {
			// Generous: every survey must end because all answered.
			c := listenCore(b, time.Minute)
			for range n {
				serveWorker(b, &Worker{HealthSocket: c.health.Path(), TerminationSocket: c.term.Path()}, nil)
			}
			waitRespondents(b, c.health, n)
			ctx := context.Background()
			if replies, err := c.health.Survey(ctx, HealthRequest().Marshal(), nil); err != nil || len(replies) != n {
				b.Fatalf("survey: %d replies, %v; want %d", len(replies), err, n)
			}
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				res, err := c.Health(ctx)
				d := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := res[os.Getpid()]; !ok {
					b.Fatalf("Health = %v: the workers did not answer", res)
				}
				if d >= time.Minute {
					b.Fatal("a survey ran to its deadline")
				}
				lat = append(lat, d)
			}
			reportLatencies(b, lat)
		})
	}
	b.Run("workerproto-ping", func(b *testing.B) {
		l, err := workerproto.Listen(filepath.Join(socketDir(b), "wp", "core.sock"), workerproto.ListenConfig{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		secret, err := workerproto.NewSecret()
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Authorize("bench", secret, os.Getpid()); err != nil {
			b.Fatal(err)
		}
		w := &workerproto.Worker{Name: "bench", Socket: l.Path(), Secret: secret}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- w.Serve(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil })
		}()
		b.Cleanup(func() { cancel(); <-done })
		actx, acancel := context.WithTimeout(ctx, testTimeout)
		conn, err := l.Accept(actx)
		acancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		var lat []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := conn.Ping(ctx); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportLatencies(b, lat)
	})
}
