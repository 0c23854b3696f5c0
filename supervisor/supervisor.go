package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/workerproto"
)

// Config configures a Supervisor. The zero value is ready to use for plain
// workers without orphan handling.
type Config struct {
	// StateDir holds a state file per running worker (pid, process start
	// time, boot id, secret), so that a core that restarts finds the
	// workers an earlier run left behind and adopts or stops them. Empty
	// means no state files and no orphan handling. Created with mode 0700.
	StateDir string
	// Socket is the path of the workerproto socket; required when a spec
	// uses ProtocolWorkerproto. Its directory is created with mode 0700.
	Socket string
	// OnEvent receives every Event, synchronously, from the goroutine of
	// the worker concerned. It must not block for long.
	OnEvent func(Event)
	// OnWorkerEvent receives the telemetry events of workerproto workers.
	// A non-nil error refuses the event; the worker's Event call returns it.
	OnWorkerEvent func(worker string, e workerproto.Event) error
	// MaxJobs bounds the on-demand workers (RunJob) running at once.
	// Default 4.
	MaxJobs int
	// NoSubreaper keeps Serve from making the process a child subreaper
	// (Linux). By default it does, for the life of the process, so that
	// the descendants of workers that leave their process group (setsid,
	// double fork) are reparented to the core, found, killed at the
	// worker's stop, and reaped; the supervisor reaps only such orphans of
	// its own workers, never another child of the program (an orphan of
	// anything else that the kernel gives the process while it serves is
	// the program's to reap). When the last Serve of the process returns,
	// the process stops being a subreaper, unless it was one before.
	// Without it descendants are still found and killed by their mark
	// (MarkEnv), but reparented to init.
	NoSubreaper bool
	// ReapAll makes the supervisor reap every zombie child of the process
	// that is not one of its workers — orphans that left their worker's
	// process group and exited before they were seen (a daemon that
	// setsids and exits at once), and children of the program's own. Set
	// it where the program waits for none of its other children itself, or
	// does not mind its Wait failing (a detached command's): zombies then
	// never pile up.
	ReapAll bool
}

// A Supervisor keeps worker processes running. Add workers, then call
// Serve; workers can be added, stopped, started and removed at any time
// from any goroutine.
type Supervisor struct {
	cfg      Config
	stateDir atomic.Pointer[atomicfile.Dir] // while serving
	jobs     chan struct{}                  // a slot of MaxJobs per job that runs
	reaper   *reaper
	sweeps   sync.WaitGroup // sweeps of what ended processes left behind

	stopping chan struct{} // closed when Serve's context ends
	detached atomic.Bool   // leave the workers running when Serve ends

	mu       sync.Mutex
	workers  map[string]*worker
	added    uint64 // workers added so far, for the order of Status
	serving  bool
	served   bool            // Serve has returned
	ctx      context.Context // Serve's context, while serving
	listener *workerproto.Listener
	runners  sync.WaitGroup
	jobsWG   sync.WaitGroup
}

// New returns a Supervisor for cfg.
func New(cfg Config) (*Supervisor, error) {
	if cfg.MaxJobs < 0 {
		return nil, fmt.Errorf("supervisor: Config.MaxJobs is negative (%d)", cfg.MaxJobs)
	}
	if cfg.MaxJobs == 0 {
		cfg.MaxJobs = 4
	}
	return &Supervisor{
		cfg:      cfg,
		jobs:     make(chan struct{}, cfg.MaxJobs),
		reaper:   newReaper(cfg.ReapAll),
		workers:  make(map[string]*worker),
		stopping: make(chan struct{}),
	}, nil
}

// Add adds a worker. It starts at once when Serve is running, else when
// Serve starts. The error names the first invalid field of the spec.
func (s *Supervisor) Add(spec Spec) error {
	spec, err := spec.withDefaults()
	if err != nil {
		return err
	}
	if spec.Protocol == ProtocolWorkerproto && s.cfg.Socket == "" {
		return fmt.Errorf("supervisor: spec %q: Protocol workerproto needs Config.Socket", spec.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.served {
		return errors.New("supervisor: Serve has returned")
	}
	if _, ok := s.workers[spec.Name]; ok {
		return fmt.Errorf("supervisor: spec %q: a worker of that name exists", spec.Name)
	}
	w := newWorker(s, spec)
	s.added++
	w.order = s.added
	s.workers[spec.Name] = w
	if s.serving {
		s.startRunner(w)
	}
	return nil
}

// startRunner starts the goroutine that keeps w running; s.mu is held.
func (s *Supervisor) startRunner(w *worker) {
	s.runners.Add(1)
	go func() {
		defer s.runners.Done()
		w.run(s.ctx)
	}()
}

func (s *Supervisor) worker(name string) (*worker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownWorker, name)
	}
	return w, nil
}

// Stop stops a worker gracefully and keeps it stopped until Start. It
// returns once the worker's processes are gone, or when ctx ends.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	w, err := s.worker(name)
	if err != nil {
		return err
	}
	return w.request(ctx, cmdStop)
}

// Start starts a worker that is stopped or was given up on (StateFailed),
// with its failure count forgotten. A running worker is left as it is.
func (s *Supervisor) Start(ctx context.Context, name string) error {
	w, err := s.worker(name)
	if err != nil {
		return err
	}
	return w.request(ctx, cmdStart)
}

// Remove stops a worker gracefully and forgets it.
func (s *Supervisor) Remove(ctx context.Context, name string) error {
	w, err := s.worker(name)
	if err != nil {
		return err
	}
	if err := w.request(ctx, cmdRemove); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.workers, name)
	s.mu.Unlock()
	return nil
}

// Restart stops a worker gracefully and starts it again, as a new process
// (on a new binary, after an update).
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	if err := s.Stop(ctx, name); err != nil {
		return err
	}
	return s.Start(ctx, name)
}

// Detach makes Serve, when its context ends, leave the worker processes
// running instead of stopping them: their state files stay, and the next
// supervisor with the same StateDir adopts them. A core that restarts to
// update itself detaches, so that busy workers are not interrupted. Jobs
// are stopped all the same.
func (s *Supervisor) Detach() { s.detached.Store(true) }

// Status returns a snapshot of every worker, in the order they were added.
func (s *Supervisor) Status() []WorkerStatus {
	out := s.snapshots()
	for i := range out {
		if out[i].PID > 0 {
			out[i].Executable, _ = processExecutable(out[i].PID)
		}
	}
	return out
}

// snapshots is Status without the executables.
func (s *Supervisor) snapshots() []WorkerStatus {
	s.mu.Lock()
	ws := make([]*worker, 0, len(s.workers))
	for _, w := range s.workers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	slices.SortFunc(ws, func(a, b *worker) int { return cmp.Compare(a.order, b.order) })
	out := make([]WorkerStatus, len(ws))
	for i, w := range ws {
		out[i] = w.snapshot()
	}
	return out
}

// Ready is the supervisor's one answer to "are the workers healthy?", for
// a status command and an update's health gate: true when every worker
// runs and every worker with a protocol (workerproto, probe) has reported
// ready. Otherwise reasons says, per worker in the order of Status, what
// is missing: "worker: state backoff", "worker: not ready yet", "worker:
// failed: start limit: …". A supervisor without workers is ready.
func (s *Supervisor) Ready() (ready bool, reasons []string) {
	return readiness(s.snapshots())
}

// readiness is Ready for a snapshot.
func readiness(status []WorkerStatus) (bool, []string) {
	var reasons []string
	for _, w := range status {
		switch {
		case w.State != StateRunning && w.Reason != "":
			reasons = append(reasons, fmt.Sprintf("%s: %s: %s", w.Name, w.State, w.Reason))
		case w.State != StateRunning:
			reasons = append(reasons, fmt.Sprintf("%s: %s", w.Name, w.State))
		case w.Protocol != ProtocolPlain && !w.Ready:
			reasons = append(reasons, fmt.Sprintf("%s: not ready yet", w.Name))
		}
	}
	return len(reasons) == 0, reasons
}

// ErrServing is returned by a second call of Serve: a Supervisor serves
// once.
var ErrServing = errors.New("Serve was called already")

// Serve runs the workers until ctx ends, then stops them all gracefully, at
// once, each within its stop timeout. It returns only when every worker
// process and on-demand job is gone. Serve may be called once.
func (s *Supervisor) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.serving || s.served {
		s.mu.Unlock()
		return fmt.Errorf("supervisor: %w", ErrServing)
	}
	if err := s.prepare(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.serving, s.ctx = true, ctx
	var accepting sync.WaitGroup
	if s.listener != nil {
		accepting.Add(1)
		go func() {
			defer accepting.Done()
			s.acceptLoop(ctx)
		}()
	}
	undoSubreaper := func() {}
	if !s.cfg.NoSubreaper {
		// Where this fails, descendants are still killed by their mark.
		undoSubreaper, _ = becomeSubreaper()
	}
	reaping, reaped := make(chan struct{}), make(chan struct{})
	go func() { defer close(reaped); s.reaper.reapLoop(reaping) }()
	for _, w := range s.workers {
		s.startRunner(w)
	}
	s.mu.Unlock()

	<-ctx.Done()
	// From here no runner or job starts: the WaitGroups only go down.
	s.mu.Lock()
	s.serving, s.served = false, true
	close(s.stopping)
	s.mu.Unlock()
	s.runners.Wait()
	s.jobsWG.Wait()
	s.sweeps.Wait()
	if !s.detached.Load() {
		s.reaper.sweep(s.reaper.allMarks()...)
	}
	close(reaping)
	<-reaped
	undoSubreaper()
	if s.listener != nil {
		s.listener.Close()
	}
	accepting.Wait()
	if d := s.stateDir.Swap(nil); d != nil {
		d.Close()
	}
	return nil
}

// prepare creates the state directory and the workerproto listener; s.mu
// is held.
func (s *Supervisor) prepare() error {
	if s.cfg.StateDir != "" {
		if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
			return fmt.Errorf("supervisor: state directory: %w", err)
		}
		if err := atomicfile.CleanTemp(s.cfg.StateDir); err != nil {
			return fmt.Errorf("supervisor: state directory: %w", err)
		}
		// State files go through one handle on the directory, opened now:
		// a directory swapped for a link later is never followed.
		d, err := atomicfile.OpenDir(s.cfg.StateDir)
		if err != nil {
			return fmt.Errorf("supervisor: state directory: %w", err)
		}
		s.stateDir.Store(d)
	}
	if s.cfg.Socket == "" {
		return nil
	}
	interval := defaultHealthInterval
	for _, w := range s.workers {
		interval = max(interval, w.spec.HealthInterval)
	}
	l, err := workerproto.Listen(s.cfg.Socket, workerproto.ListenConfig{
		HealthInterval: interval,
		OnEvent: func(c *workerproto.Conn, e workerproto.Event) error {
			if s.cfg.OnWorkerEvent == nil {
				return nil
			}
			return s.cfg.OnWorkerEvent(c.Peer().ID, e)
		},
	})
	if err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	s.listener = l
	return nil
}

// acceptLoop hands each authenticated workerproto connection to its worker.
func (s *Supervisor) acceptLoop(ctx context.Context) {
	for {
		c, err := s.listener.Accept(ctx)
		if err != nil {
			return
		}
		w, err := s.worker(c.Peer().ID)
		if err != nil {
			c.Close()
			continue
		}
		select {
		case w.conns <- c:
		default: // the worker has one waiting already
			c.Close()
		}
	}
}

// sweepAfter kills, in the background and after delay (cut short when
// Serve stops), what a process that ended left behind outside its process
// group.
func (s *Supervisor) sweepAfter(mark string, delay time.Duration) {
	if mark == "" {
		return
	}
	s.sweeps.Add(1)
	go func() {
		defer s.sweeps.Done()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.stopping:
				t.Stop()
			}
		}
		s.reaper.sweep(mark)
	}()
}

// restartSweepDelay is how long the sweep after a process that is
// replaced at once waits, so that its scan of /proc is not in the way of
// the replacement's start.
const restartSweepDelay = 100 * time.Millisecond

// emit passes an event to the hook.
func (s *Supervisor) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}
