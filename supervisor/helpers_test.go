//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

// The test binary doubles as every worker the tests supervise, and as a
// core that a test can kill. helperEnv selects the role.
const (
	helperEnv  = "SUPERVISOR_TEST_HELPER"
	exitEnv    = "HELPER_EXIT_CODE"
	stderrEnv  = "HELPER_STDERR"
	pidFileEnv = "HELPER_PID_FILE"
	fifoEnv    = "HELPER_FIFO"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

func helperMain(mode string) int {
	switch mode {
	case "exit": // write stderr, exit with a code
		os.Stderr.WriteString(os.Getenv(stderrEnv))
		code, _ := strconv.Atoi(os.Getenv(exitEnv))
		return code
	case "sleep": // a plain process; SIGTERM ends it (Go's default)
		select {}
	case "fifo": // opens a FIFO, to say it runs, then sleeps
		if f, err := os.OpenFile(os.Getenv(fifoEnv), os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		select {}
	case "ignore-term": // says so on stdout once SIGTERM is ignored
		signal.Ignore(syscall.SIGTERM)
		os.Stdout.WriteString("ignoring SIGTERM\n")
		select {}
	case "grandchildren": // start two sleeping children in our group, record them
		var pids []string
		for range 2 {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"=sleep")
			if err := cmd.Start(); err != nil {
				return 2
			}
			pids = append(pids, strconv.Itoa(cmd.Process.Pid))
		}
		os.WriteFile(os.Getenv(pidFileEnv), []byte(strings.Join(pids, " ")), 0o600)
		select {}
	case "flood": // 8 MiB to stdout, then exit 0
		chunk := []byte(strings.Repeat("x", 1<<16))
		for range 128 {
			os.Stdout.Write(chunk)
		}
		return 0
	case "workerproto": // a well-behaved worker
		w := &workerproto.Worker{Name: "helper", Version: "1.0"}
		err := w.Serve(context.Background(), func(ctx context.Context) error {
			w.Ready()
			w.Event(ctx, workerproto.Event{Type: "agent_telemetry", Name: "helper.start"})
			<-ctx.Done()
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		return 0
	case "core":
		return helperCore()
	case "daemonize":
		return helperDaemonize()
	case "daemon-mid":
		return helperDaemonMid()
	case "flood-conns":
		return helperFloodConns()
	case "ticker":
		return helperTicker()
	case "outcore":
		return helperOutputCore()
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// firstWrite is a writer that closes its channel at the first write, to
// learn that a helper has got somewhere.
type firstWrite struct {
	once sync.Once
	ch   chan struct{}
}

func newFirstWrite() *firstWrite { return &firstWrite{ch: make(chan struct{})} }

func (f *firstWrite) Write(b []byte) (int, error) {
	f.once.Do(func() { close(f.ch) })
	return len(b), nil
}

func (f *firstWrite) wait(t testing.TB) {
	t.Helper()
	select {
	case <-f.ch:
	case <-time.After(testTimeout):
		t.Fatal("the helper never wrote")
	}
}

// helperSpec returns a spec that runs the test binary in mode.
func helperSpec(name, mode string, env ...string) Spec {
	return Spec{
		Name: name,
		Path: os.Args[0],
		Args: []string{"-test.run=^$"},
		Env:  append([]string{helperEnv + "=" + mode}, env...),
	}
}

// recorder collects a supervisor's events for tests to wait on.
type recorder struct {
	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// waitFor returns the first event from index *from on that matches, and
// moves *from past it. It fails the test after the test deadline.
func (r *recorder) waitFor(t testing.TB, from *int, kind EventKind, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		r.mu.Lock()
		for i := *from; i < len(r.events); i++ {
			if e := r.events[i]; e.Kind == kind && (match == nil || match(e)) {
				*from = i + 1
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("no %s event; events: %v", kind, r.all())
			return Event{}
		}
	}
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// count returns how many events of kind there are.
func (r *recorder) count(kind EventKind) int {
	n := 0
	for _, e := range r.all() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

const testTimeout = 20 * time.Second

// serving is a Supervisor running Serve in the background.
type serving struct {
	*Supervisor
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

// serve starts a supervisor for cfg with specs; it is stopped at cleanup,
// and Serve must return in time.
func serve(t testing.TB, cfg Config, specs ...Spec) *serving {
	t.Helper()
	rec := newRecorder()
	cfg.OnEvent = rec.add
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range specs {
		if err := s.Add(spec); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sv := &serving{Supervisor: s, rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { sv.done <- s.Serve(ctx) }()
	t.Cleanup(func() { sv.stop(t) })
	return sv
}

// stop cancels Serve and waits for it.
func (sv *serving) stop(t testing.TB) {
	t.Helper()
	sv.cancel()
	select {
	case err := <-sv.done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
		sv.done <- nil // for a second stop
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return")
	}
}

func (sv *serving) status(t testing.TB, name string) WorkerStatus {
	t.Helper()
	for _, st := range sv.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no worker %q", name)
	return WorkerStatus{}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// privateDir returns a short directory, for sockets and state files.
func privateDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// gone reports whether no process with pid runs (a zombie counts as gone).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// waitGoneT waits until pid is gone.
func waitGoneT(t testing.TB, pid int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		waitGone(identify(pid), nil)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("process %d is still running", pid)
	}
}

func stateDirSocket(t testing.TB) (stateDir, socket string) {
	dir := privateDir(t)
	return filepath.Join(dir, "state"), filepath.Join(dir, "ipc", "core.sock")
}
