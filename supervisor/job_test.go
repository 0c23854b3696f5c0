//go:build linux

package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func helperJob(mode string, env ...string) Job {
	return Job{Path: helperSpec("", mode).Path, Args: []string{"-test.run=^$"}, Env: append([]string{helperEnv + "=" + mode}, env...)}
}

func TestRunJob(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.RunJob(testCtx(t), helperJob("exit", exitEnv+"=7", stderrEnv+"=document failed"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit.Code != 7 || string(res.Stderr) != "document failed" || res.TimedOut || res.Truncated || res.PID == 0 {
		t.Errorf("result %+v", res)
	}

	res, err = s.RunJob(testCtx(t), func() Job { j := helperJob("flood"); j.MaxOutput = 1000; return j }())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Exit.Success() || len(res.Stdout) != 1000 || !res.Truncated {
		t.Errorf("flood: exit %v, %d bytes kept, truncated %v", res.Exit, len(res.Stdout), res.Truncated)
	}

	j := helperJob("ignore-term")
	j.Timeout, j.StopTimeout = 100*time.Millisecond, 100*time.Millisecond
	start := time.Now()
	res, err = s.RunJob(testCtx(t), j)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Exit.Signal == "" || time.Since(start) > 10*time.Second {
		t.Errorf("timed-out job: %+v after %v", res, time.Since(start))
	}
	if !gone(res.PID) {
		t.Error("timed-out job still runs")
	}

	if _, err := s.RunJob(testCtx(t), Job{Path: "/nonexistent/doc-worker"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/doc-worker") {
		t.Errorf("missing program: %v", err)
	}
	if _, err := s.RunJob(testCtx(t), Job{}); err == nil {
		t.Error("a job without a path ran")
	}
}

func TestRunJobConcurrencyLimit(t *testing.T) {
	s, err := New(Config{MaxJobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Six jobs of at least 100 ms each, two at a time: three rounds.
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := helperJob("sleep")
			j.Timeout = 100 * time.Millisecond
			if res, err := s.RunJob(testCtx(t), j); err != nil || !res.TimedOut {
				t.Errorf("job: %+v, %v", res, err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("six 100 ms jobs with a limit of two took %v, less than three rounds", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.RunJob(ctx, helperJob("sleep")); err == nil {
		t.Error("a job ran on a cancelled context")
	}
}

func TestRunJobStopsWithSupervisor(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sv := serve(t, Config{})
	result := make(chan JobResult, 1)
	go func() {
		res, _ := sv.RunJob(context.Background(), helperJob("fifo", fifoEnv+"="+fifo))
		result <- res
	}()
	// Opening the FIFO waits for the job to open it.
	f, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	sv.stop(t)
	select {
	case res := <-result:
		if !res.TimedOut || !gone(res.PID) {
			t.Errorf("job after Serve returned: %+v", res)
		}
	case <-time.After(testTimeout):
		t.Fatal("the job did not end with the supervisor")
	}
}
