//go:build linux

package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

// BenchmarkAgentIdle runs the agent idle, on its default configuration,
// for -idle-window and reports the CPU used and the memory of the core and
// the worker: proportional set size (PSS: the two share one binary's pages,
// and PSS counts a shared page half in each) and resident set size, both
// from /proc/<pid>/smaps_rollup, and the PSS of the binary's file pages
// (text, read-only data) the two map together. Beside them, the PSS of a
// Go program that only sleeps, built and run the same way: the runtime's
// floor. Run it with -benchtime 1x.
func BenchmarkAgentIdle(b *testing.B) {
	bin := agentBinary(b, "3.1.0.0")
	floor := floorProgram(b)
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
		cm, wm := smapsRollup(b, core), smapsRollup(b, worker)
		b.ReportMetric(cm["Pss"], "core-pss-MiB")
		b.ReportMetric(wm["Pss"], "worker-pss-MiB")
		b.ReportMetric(cm["Pss"]+wm["Pss"], "total-pss-MiB")
		b.ReportMetric(cm["Pss_File"]+wm["Pss_File"], "file-pss-MiB")
		b.ReportMetric(cm["Rss"], "core-rss-MiB")
		b.ReportMetric(wm["Rss"], "worker-rss-MiB")
		a.stop()
		b.ReportMetric(floorPSS(b, floor), "go-floor-pss-MiB")
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

// smapsRollup returns a process's memory totals from
// /proc/<pid>/smaps_rollup (Rss, Pss, Pss_Anon, Pss_File, …), in MiB.
func smapsRollup(b *testing.B, pid int) map[string]float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]float64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64); ok && err == nil {
			m[k] = kb / 1024
		}
	}
	if _, ok := m["Pss"]; !ok {
		b.Fatalf("no Pss in smaps_rollup of %d:\n%s", pid, data)
	}
	return m
}

// floorProgram builds a Go program that does nothing but sleep.
func floorProgram(b *testing.B) string {
	dir := b.TempDir()
	files := map[string]string{
		"go.mod":  "module floor\n\ngo 1.26\n",
		"main.go": "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", "floor", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "floor")
}

// floorPSS runs the floor program and returns its PSS once it sleeps.
func floorPSS(b *testing.B, bin string) float64 {
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		// State S: in its sleep, past the runtime's start.
		if _, rest, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(rest, "S") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling a state, not synchronising with it
	}
	return smapsRollup(b, cmd.Process.Pid)["Pss"]
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
