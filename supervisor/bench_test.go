//go:build linux

package supervisor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p/100)]
}

// BenchmarkRestartLatency measures, with no backoff, the time from a
// worker's death to its replacement's hello, interleaved with a bare loop
// that starts the same binary and waits for its hello.
func BenchmarkRestartLatency(b *testing.B) {
	dir := privateDir(b)
	connected := make(chan Event, 16)
	spec := workerprotoSpec("bench")
	spec.HealthInterval = time.Hour // no pings in the way
	spec.HealthTimeout = time.Second
	spec.Intensity.MaxFailures = -1 // a kill loop is the point
	s, err := New(Config{Socket: filepath.Join(dir, "sup", "core.sock"), OnEvent: func(e Event) {
		if e.Kind == EventConnected {
			connected <- e
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Add(spec); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { s.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()

	bare, err := workerproto.Listen(filepath.Join(dir, "bare", "core.sock"), workerproto.ListenConfig{HealthInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	secret, _ := workerproto.NewSecret()
	env := append(os.Environ(), helperEnv+"=workerproto")
	env = append(env, workerproto.Env(bare.Path(), secret)...)

	next := func() Event {
		select {
		case e := <-connected:
			return e
		case <-time.After(testTimeout):
			b.Fatal("no worker connected")
			return Event{}
		}
	}
	current := next()
	var supervised, baseline []time.Duration
	for b.Loop() {
		t0 := time.Now()
		syscall.Kill(current.PID, syscall.SIGKILL)
		current = next()
		supervised = append(supervised, current.Time.Sub(t0))

		t1 := time.Now()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		bare.Authorize("bench", secret, 0)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		bare.SetPID("bench", cmd.Process.Pid)
		c, err := bare.Accept(ctx)
		if err != nil {
			b.Fatal(err)
		}
		baseline = append(baseline, time.Since(t1))
		c.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}
	slices.Sort(supervised)
	slices.Sort(baseline)
	b.ReportMetric(float64(percentile(supervised, 50).Microseconds()), "restart-p50-µs")
	b.ReportMetric(float64(percentile(supervised, 99).Microseconds()), "restart-p99-µs")
	b.ReportMetric(float64(percentile(baseline, 50).Microseconds()), "bare-p50-µs")
	b.ReportMetric(float64(percentile(baseline, 99).Microseconds()), "bare-p99-µs")
	b.ReportMetric(float64(percentile(supervised, 99))/float64(percentile(baseline, 99)), "p99-ratio")
}

// BenchmarkIdleCost runs 100 workerproto workers pinged every second for 10
// seconds and reports the supervisor's CPU time per second, as a share of
// one core, and its resident memory.
func BenchmarkIdleCost(b *testing.B) {
	const workers, idle = 100, 10 * time.Second
	dir := privateDir(b)
	ready := make(chan struct{}, workers)
	s, err := New(Config{Socket: filepath.Join(dir, "ipc", "core.sock"), OnEvent: func(e Event) {
		if e.Kind == EventReady {
			ready <- struct{}{}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range workers {
		spec := workerprotoSpec("w" + strconv.Itoa(i))
		spec.HealthInterval, spec.HealthTimeout = time.Second, time.Second
		if err := s.Add(spec); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { s.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()
	for range workers {
		<-ready
	}
	for b.Loop() {
		before := cpuTime()
		<-time.After(idle) // the measurement window, not a synchronisation
		used := cpuTime() - before
		b.ReportMetric(100*used.Seconds()/idle.Seconds(), "cpu-%-of-core")
	}
	for _, st := range s.Status() {
		if st.LastPing == 0 || st.State != StateRunning {
			b.Errorf("%s: %+v", st.Name, st)
		}
	}
	b.ReportMetric(float64(rssKiB())/1024, "rss-MiB")
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssKiB is this process's resident memory.
func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}
