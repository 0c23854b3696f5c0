//go:build linux

package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var idleWindow = flag.Duration("idle-window", 60*time.Second, "how long BenchmarkAgentIdle watches the idle agent")

// BenchmarkAgentStart measures the time from starting ssm-agent to its
// worker being ready (status healthy), each start on a fresh tree, and the
// binary's size.
func BenchmarkAgentStart(b *testing.B) {
	bin := agentBinary(b, "3.1.0.0")
	var took []time.Duration
	for b.Loop() {
		a := newAgent(b, bin, "")
		start := time.Now()
		a.start() // returns once the status says healthy
		took = append(took, time.Since(start))
		a.stop()
	}
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms-to-ready")
	b.ReportMetric(ms(took[len(took)*95/100]), "p95-ms-to-ready")
	b.ReportMetric(0, "ns/op")
	if fi, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MiB")
	}
}

// BenchmarkAgentIdle runs the agent idle for -idle-window and reports the
// CPU used and the resident memory of the core and the worker. Run it with
// -benchtime 1x.
func BenchmarkAgentIdle(b *testing.B) {
	bin := agentBinary(b, "3.1.0.0")
	for b.Loop() {
		a := newAgent(b, bin, "")
		a.start()
		st := a.waitHealthy("", 10*time.Second)
		core, worker := st.PID, st.Workers[0].PID
		c0, w0 := cpuTime(b, core), cpuTime(b, worker)
		time.Sleep(*idleWindow) // the measurement window, not synchronisation
		c1, w1 := cpuTime(b, core), cpuTime(b, worker)
		perMin := float64(time.Minute) / float64(*idleWindow)
		b.ReportMetric(ms(c1-c0)*perMin, "core-cpu-ms/min")
		b.ReportMetric(ms(w1-w0)*perMin, "worker-cpu-ms/min")
		b.ReportMetric(rssMiB(b, core), "core-rss-MiB")
		b.ReportMetric(rssMiB(b, worker), "worker-rss-MiB")
		a.stop()
	}
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime returns the CPU time of all of a process's threads, to the
// nanosecond (the first field of each thread's schedstat).
func cpuTime(b *testing.B, pid int) time.Duration {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(stats) == 0 {
		b.Fatalf("no threads of %d: %v", pid, err)
	}
	var total time.Duration
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that just ended
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		total += time.Duration(ns)
	}
	return total
}

// rssMiB returns a process's resident set size.
func rssMiB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}
