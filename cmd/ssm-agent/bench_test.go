//go:build linux

package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
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
		c0, w0 := cpuTicks(b, core), cpuTicks(b, worker)
		time.Sleep(*idleWindow) // the measurement window, not synchronisation
		c1, w1 := cpuTicks(b, core), cpuTicks(b, worker)
		const hz = 100 // USER_HZ
		secs := idleWindow.Seconds()
		b.ReportMetric(float64(c1-c0)/hz/secs*100, "core-cpu-%")
		b.ReportMetric(float64(w1-w0)/hz/secs*100, "worker-cpu-%")
		b.ReportMetric(rssMiB(b, core), "core-rss-MiB")
		b.ReportMetric(rssMiB(b, worker), "worker-rss-MiB")
		a.stop()
	}
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTicks returns a process's user plus system time in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
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
