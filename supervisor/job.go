package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// A Job is an on-demand worker: a short-lived process for one piece of
// work, like the SSM Agent's ssm-document-worker, one per document.
type Job struct {
	// Path is the program to run; required.
	Path string
	// Args are its arguments, without the program name.
	Args []string
	// Env is added to the supervisor's environment.
	Env []string
	// Dir is the working directory; empty means the supervisor's.
	Dir string
	// Stdin is the job's standard input; nil means none.
	Stdin io.Reader
	// Timeout bounds the job's run; zero means no limit but the context's.
	Timeout time.Duration
	// StopTimeout is how long a job that is out of time may take to stop
	// after SIGTERM before its process group is killed. Default 10 s.
	StopTimeout time.Duration
	// MaxOutput is how much of each of stdout and stderr is kept, in bytes;
	// the rest is counted and dropped. Default 1 MiB.
	MaxOutput int
}

// A JobResult is how a job ended and what it printed.
type JobResult struct {
	PID  int
	Exit ExitStatus
	// Stdout and Stderr hold the start of the job's output, up to
	// Job.MaxOutput bytes each.
	Stdout, Stderr []byte
	// Truncated is set when output was dropped.
	Truncated bool
	// TimedOut is set when the job was stopped because its timeout or
	// context ended.
	TimedOut bool
}

// RunJob runs a job to its end and returns its exit status and output. At
// most Config.MaxJobs jobs run at once; RunJob waits for a free slot while
// ctx allows. When ctx ends or the timeout passes, the job is stopped
// gracefully, then forcefully, and its result says it timed out. A job's
// whole process group is killed when it exits. The error reports only a
// job that could not be started.
func (s *Supervisor) RunJob(ctx context.Context, job Job) (JobResult, error) {
	if job.Path == "" {
		return JobResult{}, errors.New("supervisor: job: Path is empty")
	}
	if job.Timeout < 0 || job.StopTimeout < 0 || job.MaxOutput < 0 {
		return JobResult{}, errors.New("supervisor: job: negative Timeout, StopTimeout or MaxOutput")
	}
	if job.StopTimeout == 0 {
		job.StopTimeout = defaultStopTimeout
	}
	if job.MaxOutput == 0 {
		job.MaxOutput = 1 << 20
	}
	// A job ends when Serve ends, and Serve waits for it.
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return JobResult{}, fmt.Errorf("supervisor: job %s: the supervisor has stopped", job.Path)
	}
	s.jobsWG.Add(1)
	s.mu.Unlock()
	defer s.jobsWG.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func(done <-chan struct{}) {
		select {
		case <-s.stopping:
			cancel()
		case <-done:
		}
	}(ctx.Done())

	if err := s.acquireJob(ctx); err != nil {
		return JobResult{}, fmt.Errorf("supervisor: job %s: waiting for a slot: %w", job.Path, err)
	}
	defer func() { <-s.jobs }()
	if job.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, job.Timeout)
		defer cancel()
	}

	cmd := exec.Command(job.Path, job.Args...)
	mark, err := newMark()
	if err != nil {
		return JobResult{}, err
	}
	cmd.Env = markedEnv(append(os.Environ(), job.Env...), mark)
	cmd.Dir = job.Dir
	cmd.Stdin = job.Stdin
	cmd.SysProcAttr = sysProcAttr(&Spec{})
	stdout, stderr := &capped{max: job.MaxOutput}, &capped{max: job.MaxOutput}
	p, err := startCmd(cmd, stdout, stderr, s.reaper)
	if err != nil {
		return JobResult{}, fmt.Errorf("supervisor: job %s: %w", job.Path, err)
	}
	s.reaper.addMark(mark, p.pid)
	res := JobResult{PID: p.pid}
	select {
	case <-p.exited:
	case <-ctx.Done():
		res.TimedOut = true
		p.terminate()
		p.killAt(time.Now().Add(job.StopTimeout))
	}
	p.cleanUp()          // what the job left in its group
	s.reaper.sweep(mark) // and what left the group
	p.copiers.Wait()
	res.Exit = *p.status
	res.Stdout, res.Stderr = stdout.bytes(), stderr.bytes()
	res.Truncated = stdout.dropped > 0 || stderr.dropped > 0
	return res, nil
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped int64
}

func (c *capped) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - len(c.buf)
	if room >= len(b) {
		c.buf = append(c.buf, b...)
		return len(b), nil
	}
	c.buf = append(c.buf, b[:max(room, 0)]...)
	c.dropped += int64(len(b) - max(room, 0))
	return len(b), nil
}

func (c *capped) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

// acquireJob takes one of the MaxJobs slots, waiting for one until ctx
// ends; a context already done takes none.
func (s *Supervisor) acquireJob(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.jobs <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
