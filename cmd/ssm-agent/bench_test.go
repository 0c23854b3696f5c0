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

// BenchmarkGuardianKilled measures, in a plain shell with no service
// manager, the time from SIGKILL of an update's guardian — just after the
// handover, the new core running — to the update ended: a healthy core on
// a complete version, the journal finished, the result in the audit log.
// Beside it, in the same loop, the same span of an update whose guardian
// is left alone.
func BenchmarkGuardianKilled(b *testing.B) {
	old := agentBinary(b, "3.1.0.0")
	newBin, err := os.ReadFile(agentBinary(b, "3.2.0.0"))
	if err != nil {
		b.Fatal(err)
	}
	pkg := agentPackage(b, newBin)
	var killed, left []time.Duration
	for i := 0; b.Loop(); i++ {
		for _, kill := range []bool{true, false} {
			r := newReleases(b)
			r.publish(b, "3.2.0.0", pkg, "")
			a := newAgent(b, old, updateConfigJSON(r.manifestURL(), 60))
			a.start()
			if _, _, err := a.run("update", "--now", "--wait", "0"); err != nil {
				b.Fatal(err)
			}
			g := a.waitGuardian(nil)
			a.waitVersion("3.2.0.0")
			t0 := time.Now()
			if kill {
				a.kill(g)
			}
			a.waitFor("the update ended", 60*time.Second, func() (bool, string) {
				st, err := a.status()
				return err == nil && st.Healthy && a.journal().Finished() && len(a.resultLines()) == 1, ""
			})
			if kill {
				killed = append(killed, time.Since(t0))
			} else {
				left = append(left, time.Since(t0))
			}
			a.killAll()
		}
	}
	slices.Sort(killed)
	slices.Sort(left)
	b.ReportMetric(ms(killed[len(killed)/2]), "killed-p50-ms")
	b.ReportMetric(ms(killed[len(killed)-1]), "killed-max-ms")
	b.ReportMetric(ms(left[len(left)/2]), "unkilled-p50-ms")
	b.ReportMetric(0, "ns/op")
}
