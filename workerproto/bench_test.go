package workerproto

import (
	"context"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every frame it reads back to its writer: the baseline of
// a plain Unix-socket round trip of the same bytes, with no protocol.
func echoServer(b *testing.B) net.Conn {
	b.Helper()
	path := b.TempDir() + "/echo.sock"
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fr := newFrameReader(c, DefaultMaxFrameSize)
		var out []byte
		for {
			p, err := fr.next()
			if err != nil {
				return
			}
			out = appendFrame(out[:0], p)
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func socketPathB(b *testing.B) string {
	dir := b.TempDir()
	if len(dir) > 80 {
		b.Skipf("temporary directory %s too long for a socket path", dir)
	}
	return dir + "/ipc/s.sock" // Listen creates ipc/ with mode 0700
}

// benchPair connects a Worker to a Listener in this process.
func benchPair(b *testing.B, onEvent func(*Conn, Event) error) (*Conn, *Worker) {
	b.Helper()
	l, err := Listen(socketPathB(b), ListenConfig{OnEvent: onEvent})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	secret, _ := NewSecret()
	l.Authorize("bench", secret, os.Getpid())
	w := &Worker{Name: "bench", Socket: l.Path(), Secret: secret}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- w.Serve(ctx, func(ctx context.Context) error { close(served); <-ctx.Done(); return nil })
	}()
	c, err := l.Accept(ctx)
	if err != nil {
		b.Fatal(err)
	}
	<-served
	b.Cleanup(func() { cancel(); <-done; c.Close() })
	return c, w
}

// percentile returns the p-th percentile (0–100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// codecs are the message codecs the benchmarks compare, each in a
// sub-benchmark of its name.
var codecs = []codec{handCodec, stdCodec}

// useCodec makes encode and decode use cd until the benchmark ends.
func useCodec(b *testing.B, cd codec) {
	old := msgCodec
	msgCodec = cd
	b.Cleanup(func() { msgCodec = old })
}

// BenchmarkPing measures the ping round trip with each codec, interleaved
// with a plain echo of the same bytes over another Unix socket, and reports
// the p50 and p99 of both and the ratio of the p99s.
func BenchmarkPing(b *testing.B) {
	for _, cd := range codecs {
		b.Run(cd.name, func(b *testing.B) { useCodec(b, cd); benchPing(b) })
	}
}

func benchPing(b *testing.B) {
	c, _ := benchPair(b, nil)
	echo := echoServer(b)
	frame, _ := encode(nil, &message{Type: typePing, ID: 1 << 40})
	fr := newFrameReader(echo, DefaultMaxFrameSize)
	ctx := context.Background()

	var ping, raw []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := echo.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := fr.next(); err != nil {
			b.Fatal(err)
		}
		ping = append(ping, t1.Sub(t0))
		raw = append(raw, time.Since(t1))
	}
	slices.Sort(ping)
	slices.Sort(raw)
	b.ReportMetric(float64(percentile(ping, 50).Nanoseconds()), "ping-p50-ns")
	b.ReportMetric(float64(percentile(ping, 99).Nanoseconds()), "ping-p99-ns")
	b.ReportMetric(float64(percentile(raw, 50).Nanoseconds()), "echo-p50-ns")
	b.ReportMetric(float64(percentile(raw, 99).Nanoseconds()), "echo-p99-ns")
	b.ReportMetric(float64(percentile(ping, 99))/float64(percentile(raw, 99)), "p99-ratio")
}

// benchEvent is a telemetry event of a realistic size.
var benchEvent = Event{
	Type:       "agent_telemetry",
	Name:       "ssm-agent-worker.start",
	Time:       time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC),
	Attributes: map[string]string{"AgentVersion": "3.3.987.0", "InstanceId": "i-0123456789abcdef0"},
}

// senders is how many goroutines send events at once, so that events are
// pipelined rather than one round trip each.
const senders = 64

// BenchmarkEvents measures event throughput, acknowledged by the core, from
// concurrent senders, with each codec; the raw-echo sub-benchmark pipelines
// the same frames through a plain Unix-socket echo.
func BenchmarkEvents(b *testing.B) {
	for _, cd := range codecs {
		b.Run("workerproto-"+cd.name, func(b *testing.B) { useCodec(b, cd); benchEvents(b) })
	}
	b.Run("raw-echo", func(b *testing.B) {
		echo := echoServer(b)
		frame, _ := encode(nil, &message{Type: typeEvent, ID: 1 << 40, Event: &benchEvent})
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		go func() {
			// Write in batches, as the group-commit sender does under load.
			batch := slices.Repeat(frame, senders)
			for sent := 0; sent < b.N; sent += senders {
				if _, err := echo.Write(batch[:min(senders, b.N-sent)*len(frame)]); err != nil {
					return
				}
			}
		}()
		fr := newFrameReader(echo, DefaultMaxFrameSize)
		for range b.N {
			if _, err := fr.next(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}

// benchEvents sends b.N events from concurrent senders with the current
// codec.
func benchEvents(b *testing.B) {
	_, w := benchPair(b, func(*Conn, Event) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N / senders
	for i := range senders {
		n := per
		if i == 0 {
			n += b.N % senders
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := w.Event(ctx, benchEvent); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
