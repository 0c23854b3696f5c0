package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// A process is one run of a worker: a child the supervisor started, or an
// adopted one from an earlier run of the core.
type process struct {
	pid     int
	started time.Time
	id      identity
	cmd     *exec.Cmd // nil when adopted
	adopted bool

	stderr  *tail
	copiers sync.WaitGroup
	logPath string  // the log file the output goes to, for the tail
	mark    string  // the MarkEnv token of this start
	reaper  *reaper // nil for adopted processes

	exited chan struct{} // closed once the process is gone
	status *ExitStatus   // how it ended; set before exited is closed
	stop   func()        // ends the wait on an adopted process early
}

// startProcess starts the worker's program in its own process group with
// extraEnv added to its environment, marked with mark.
func startProcess(spec *Spec, extraEnv []string, mark string, r *reaper) (*process, error) {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = markedEnv(append(append(os.Environ(), spec.Env...), extraEnv...), mark)
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = sysProcAttr(spec)
	if spec.Output.Mode == OutputWriters {
		p, err := startCmd(cmd, spec.Stdout, spec.Stderr, r)
		if err != nil {
			return nil, fmt.Errorf("supervisor: start %s: %w", spec.Name, err)
		}
		p.mark = mark
		return p, nil
	}
	// The worker writes to its log file or the journal itself: nothing of
	// the core is between them, so the output outlives the core.
	stdout, stderr, err := openOutput(&spec.Output)
	if err != nil {
		return nil, fmt.Errorf("supervisor: start %s: %w", spec.Name, err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = r.startChild(cmd)
	stdout.Close()
	stderr.Close()
	if err != nil {
		return nil, fmt.Errorf("supervisor: start %s: %w", spec.Name, err)
	}
	p := &process{cmd: cmd, stderr: newTail(0), exited: make(chan struct{}), mark: mark, reaper: r}
	if spec.Output.effective() == OutputFile {
		p.logPath = spec.Output.Path
	}
	p.begin()
	return p, nil
}

// startCmd starts cmd with its output going to stdout and stderr (nil
// discards) and the end of its stderr kept.
func startCmd(cmd *exec.Cmd, stdout, stderr io.Writer, r *reaper) (*process, error) {
	p := &process{cmd: cmd, stderr: newTail(tailSize), exited: make(chan struct{}), reaper: r}

	// The child writes into pipes that the supervisor drains, rather than
	// into writers that exec.Cmd would copy: Wait then returns the moment
	// the process exits, even if a grandchild keeps the pipes open.
	var closeAfterStart []*os.File
	defer func() {
		for _, f := range closeAfterStart {
			f.Close()
		}
	}()
	pipe := func(dst io.Writer) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		closeAfterStart = append(closeAfterStart, w)
		p.copiers.Add(1)
		go func() {
			defer p.copiers.Done()
			defer r.Close()
			copyOutput(dst, r)
		}()
		return w, nil
	}
	if stdout != nil {
		w, err := pipe(ignoreErrors{stdout})
		if err != nil {
			return nil, fmt.Errorf("stdout pipe: %w", err)
		}
		cmd.Stdout = w
	}
	errDst := io.Writer(p.stderr)
	if stderr != nil {
		errDst = io.MultiWriter(p.stderr, ignoreErrors{stderr})
	}
	w, err := pipe(errDst)
	if err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stderr = w

	if err := r.startChild(cmd); err != nil {
		for _, f := range closeAfterStart {
			f.Close()
		}
		closeAfterStart = nil
		p.copiers.Wait()
		return nil, err
	}
	p.begin()
	return p, nil
}

// begin records the identity of the started child and waits for it.
func (p *process) begin() {
	p.pid = p.cmd.Process.Pid
	p.started = time.Now()
	p.id = identify(p.pid)
	go p.wait()
}

// wait reaps the child and records how it ended.
func (p *process) wait() {
	err := p.cmd.Wait()
	p.reaper.removeChild(p.cmd.Process.Pid)
	st := &ExitStatus{Code: -1, Duration: time.Since(p.started)}
	if ps := p.cmd.ProcessState; ps != nil {
		st.Code = ps.ExitCode()
		st.Signal = signalName(ps)
	} else if err != nil {
		st.Signal = err.Error()
	}
	// Give the output a moment to drain, so the tail is complete; a
	// grandchild holding the pipe must not delay the exit for long.
	drained := make(chan struct{})
	go func() { p.copiers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(100 * time.Millisecond):
	}
	st.StderrTail = p.stderr.String()
	if p.logPath != "" {
		st.StderrTail = fileTail(p.logPath, tailSize)
	}
	p.status = st
	close(p.exited)
}

// isExited reports whether the process has ended.
func (p *process) isExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// terminate asks the process itself to stop: SIGTERM where there are
// signals.
func (p *process) terminate() error {
	if p.isExited() {
		return nil
	}
	return terminateProcess(p.pid)
}

// killAt is the forceful half of every stop, after the process was asked
// to stop (terminate, or through its protocol): it waits for the process to
// exit and kills its whole group if it still runs at deadline. It returns
// once the process has exited.
func (p *process) killAt(deadline time.Time) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.kill()
		<-p.exited
	}
}

// kill kills the process's whole group at once. An adopted process that
// does not lead its own group is killed alone.
func (p *process) kill() error {
	if p.adopted && !p.id.LeadsGroup() {
		if !p.id.Running() {
			return nil
		}
		return killProcess(p.pid)
	}
	return killGroup(p.pid)
}

// cleanUp kills what is left of the process group of a process that has
// exited, and waits briefly for it to be gone, so that nothing the worker
// started outlives it.
func (p *process) cleanUp() {
	p.kill()
	waitGroupGone(p.pid, time.Second)
}

// adoptProcess supervises a process from an earlier run of the core. It is
// not the supervisor's child, so its exit status cannot be known.
func adoptProcess(id identity, started time.Time) *process {
	stop := make(chan struct{})
	p := &process{pid: id.PID, id: id, adopted: true, started: started, stderr: newTail(0), exited: make(chan struct{})}
	var once sync.Once
	p.stop = func() { once.Do(func() { close(stop) }) }
	go func() {
		waitGone(id, stop)
		p.status = &ExitStatus{Code: -1, Duration: time.Since(p.started)}
		close(p.exited)
	}()
	return p
}

// copyOutput drains r into dst until r ends.
func copyOutput(dst io.Writer, r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// ignoreErrors keeps a failing writer from stopping the drain of a pipe, so
// that a worker never blocks on its own output.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(b []byte) (int, error) {
	i.w.Write(b)
	return len(b), nil
}

// tailSize is how much of a worker's stderr is kept for its status.
const tailSize = 4 << 10

// tail keeps the last bytes written to it.
type tail struct {
	mu   sync.Mutex
	buf  []byte
	size int
}

func newTail(size int) *tail { return &tail{size: size} }

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(b) >= t.size {
		t.buf = append(t.buf[:0], b[len(b)-t.size:]...)
		return len(b), nil
	}
	if over := len(t.buf) + len(b) - t.size; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, b...)
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// errNotSupported is returned where the platform lacks what a feature needs.
var errNotSupported = errors.New("not supported on this platform")
