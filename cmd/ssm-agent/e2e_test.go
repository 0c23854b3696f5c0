//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build the agent as a release would (with -ldflags
// -X main.version=...) and run it as a user does, on its own directories.
// Every process they start carries a marker in its environment — workers,
// guardians and cores started by guardians inherit it — and is killed when
// the test ends.

const markerEnv = "SSM_AGENT_E2E_TEST"

var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

func TestMain(m *testing.M) {
	// No test asks the EC2 metadata service unless it points it at a fake
	// on loopback itself.
	if os.Getenv("AWS_EC2_METADATA_DISABLED") == "" {
		os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	}
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// agentBinary builds the agent at version, once per test binary.
func agentBinary(t testing.TB, version string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the agent")
	}
	builds.Lock()
	defer builds.Unlock()
	if bin, ok := builds.bins[version]; ok {
		return bin
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "ssm-agent-e2e-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	bin := filepath.Join(builds.dir, version, "ssm-agent")
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gotool, "build", "-ldflags", "-X main.version="+version, "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	builds.bins[version] = bin
	return bin
}

// An agent is a directory tree an agent runs on, and the core started on it.
type agent struct {
	t      testing.TB
	bin    string
	dir    string
	config string
	env    []string
	marker string
	// dataDir, when set, replaces <dir>/data in the core's flags.
	dataDir string

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newAgent prepares a tree for bin with the configuration config (JSON; ""
// for the built-in defaults) and extra environment.
func newAgent(t testing.TB, bin, config string, env ...string) *agent {
	t.Helper()
	a := &agent{t: t, bin: bin, dir: t.TempDir(), marker: fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())}
	if config != "" {
		a.config = filepath.Join(a.dir, "amazon-ssm-agent.json")
		if err := os.WriteFile(a.config, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing of the test's own service manager or AWS setup leaks in.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "NOTIFY_SOCKET" || k == "INVOCATION_ID" || strings.HasPrefix(k, "WATCHDOG_") || strings.HasPrefix(k, "AWS_") || k == markerEnv {
			continue
		}
		a.env = append(a.env, kv)
	}
	a.env = append(a.env, markerEnv+"="+a.marker, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
	a.env = append(a.env, env...)
	t.Cleanup(a.killAll)
	return a
}

// globals are the agent's global flags.
func (a *agent) globals() []string {
	data := a.dataDir
	if data == "" {
		data = filepath.Join(a.dir, "data")
	}
	g := []string{"--data-dir", data, "--log-dir", filepath.Join(a.dir, "log"), "--install-dir", filepath.Join(a.dir, "install")}
	if a.config != "" {
		g = append(g, "--config", a.config)
	}
	return g
}

// command is the core's command, not started.
func (a *agent) command() *exec.Cmd {
	cmd := exec.Command(a.bin, a.globals()...)
	cmd.Env = a.env
	return cmd
}

// start starts the core and waits until it answers and is healthy.
func (a *agent) start() {
	a.t.Helper()
	a.cmd = a.command()
	a.out = &lockedBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(a.cmd, a.done)
	a.waitHealthy("", 20*time.Second)
}

// run runs a CLI command against the agent's tree.
func (a *agent) run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(a.bin, append(args, a.globals()...)...)
	cmd.Env = a.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// status asks the core over the control socket.
func (a *agent) status() (Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st Status
	err := callCore(ctx, filepath.Join(a.dir, "data"), "GET", "/status", nil, &st)
	return st, err
}

// waitFor asks cond until it holds or timeout passes, and returns the time
// it took.
func (a *agent) waitFor(what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	a.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: not within %s; last: %s\ncore output:\n%s", what, timeout, state, a.output())
		}
		<-tick.C
	}
}

func (a *agent) output() string {
	if a.out == nil {
		return ""
	}
	return a.out.String()
}

// waitHealthy waits until the core at version (any, if "") answers and is
// healthy, and returns its status.
func (a *agent) waitHealthy(version string, timeout time.Duration) Status {
	a.t.Helper()
	var st Status
	a.waitFor("core healthy", timeout, func() (bool, string) {
		var err error
		if st, err = a.status(); err != nil {
			return false, err.Error()
		}
		b, _ := json.Marshal(st)
		return st.Healthy && len(st.Workers) > 0 && (version == "" || st.Version == version), string(b)
	})
	return st
}

// stop interrupts the core, as Ctrl-C does, and waits for its exit.
func (a *agent) stop() error {
	a.t.Helper()
	a.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-a.done:
		a.done = nil
		return err
	case <-time.After(30 * time.Second):
		a.t.Fatalf("the core did not stop within 30s after SIGINT\n%s", a.output())
		return nil
	}
}

// processes returns the live processes carrying the agent's marker, by pid,
// with their command lines.
func (a *agent) processes() map[int]string {
	found := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, []byte(markerEnv+"="+a.marker+"\x00")) {
			continue
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue // a zombie
			}
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		found[pid] = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return found
}

// workers returns the pids of the live worker processes of the agent.
func (a *agent) workers() []int {
	var pids []int
	for pid, cmdline := range a.processes() {
		if strings.Contains(cmdline, " worker") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAll kills every process of the agent.
func (a *agent) killAll() {
	// Killed, the processes may take a moment to be gone: they must be
	// before the test's directory is removed.
	deadline := time.Now().Add(10 * time.Second)
	for procs := a.processes(); len(procs) > 0 && time.Now().Before(deadline); procs = a.processes() {
		for pid := range procs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond) // waiting for the kernel, not synchronising
	}
	if a.done != nil {
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
		}
	}
}

// audit returns the audit files' lines.
func (a *agent) audit() []string {
	var lines []string
	files, _ := filepath.Glob(filepath.Join(a.dir, "log", "audits", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// auditHas says whether an audit line starts with prefix.
func (a *agent) auditHas(prefix string) bool {
	for _, l := range a.audit() {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}

func TestAgentDefaultRun(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), "")
	a.start()
	for _, want := range []string{"ssm-agent 3.1.0.0", "data:      " + filepath.Join(a.dir, "data"), "audit log: " + filepath.Join(a.dir, "log", "audits")} {
		if !strings.Contains(a.output(), want) {
			t.Errorf("the core's output lacks %q:\n%s", want, a.output())
		}
	}
	a.waitFor("both start events in the audit file", 10*time.Second, func() (bool, string) {
		return a.auditHas("agent_telemetry amazon-ssm-agent.start 3.1.0.0 ") && a.auditHas("agent_telemetry ssm-agent-worker.start 3.1.0.0 "),
			strings.Join(a.audit(), "\n")
	})

	out, errOut, err := a.run("status", "--json")
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, errOut)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json printed %q: %v", out, err)
	}
	workers, _ := st["workers"].([]any)
	if st["version"] != "3.1.0.0" || st["pid"] != float64(a.cmd.Process.Pid) || len(workers) != 1 {
		t.Fatalf("status --json = %s", out)
	}
	w := workers[0].(map[string]any)
	for _, k := range []string{"name", "pid", "state", "restarts", "lastExit"} {
		if _, ok := w[k]; !ok {
			t.Errorf("status --json: worker lacks %q: %s", k, out)
		}
	}
	if w["name"] != "ssm-agent-worker" || w["state"] != "running" || w["pid"].(float64) <= 0 {
		t.Errorf("status --json: worker %v", w)
	}
	update, _ := st["update"].(map[string]any)
	if _, ok := update["state"]; !ok {
		t.Errorf("status --json: update lacks state: %s", out)
	}
	if _, ok := update["lastResult"]; !ok {
		t.Errorf("status --json: update lacks lastResult: %s", out)
	}
	sinks, _ := st["telemetry"].([]any)
	if len(sinks) == 0 {
		t.Fatalf("status --json: no telemetry sinks: %s", out)
	}
	for _, s := range sinks {
		for _, k := range []string{"sink", "pending", "delivered", "dropped"} {
			if _, ok := s.(map[string]any)[k]; !ok {
				t.Errorf("status --json: sink lacks %q: %v", k, s)
			}
		}
	}
	if out, _, err := a.run("status"); err != nil || !strings.Contains(out, "ssm-agent-worker") {
		t.Errorf("status = %q, %v", out, err)
	}

	workerPID := int(w["pid"].(float64))
	if err := a.stop(); err != nil {
		t.Fatalf("the core exited with %v after SIGINT\n%s", err, a.output())
	}
	if running(workerPID) {
		t.Errorf("worker %d still runs after the core stopped", workerPID)
	}
	if _, errOut, err := a.run("status"); err == nil || !strings.Contains(errOut, "no core is answering") {
		t.Errorf("status with no core = %v, %q", err, errOut)
	}
}

func TestAgentWorkerRefusesToRunByHand(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), "")
	_, errOut, err := a.run("worker")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(errOut, "the core starts the worker") {
		t.Errorf("worker by hand = %v, %q", err, errOut)
	}
}

// workerConfig is a configuration whose worker is checked every second.
const workerConfig = `{"Workers": [{"Name": "ssm-agent-worker", "HealthIntervalSeconds": 1}]}`

func TestAgentWorkerKilled(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), workerConfig)
	a.start()
	st := a.waitHealthy("", 10*time.Second)
	old := st.Workers[0].PID
	syscall.Kill(old, syscall.SIGKILL)
	took := a.waitFor("a new worker after SIGKILL", 10*time.Second, func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		w := st.Workers[0]
		return w.PID != old && w.PID > 0 && w.State == "running", fmt.Sprintf("%+v", w)
	})
	if took > time.Second {
		t.Errorf("the worker came back after %s, want within 1s", took)
	}
	t.Logf("worker back %s after SIGKILL", took)

	// A stopped worker answers no pings: it is replaced.
	st = a.waitHealthy("", 10*time.Second)
	stopped := st.Workers[0].PID
	syscall.Kill(stopped, syscall.SIGSTOP)
	a.waitFor("the SIGSTOPped worker replaced", 20*time.Second, func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		w := st.Workers[0]
		return w.PID != stopped && w.PID > 0 && w.Ready, fmt.Sprintf("%+v", w)
	})
	a.waitFor("the SIGSTOPped worker gone", 10*time.Second, func() (bool, string) {
		return !running(stopped), "still running"
	})
}

func TestAgentCoreKilledAndRestarted(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), "")
	a.start()
	st := a.waitHealthy("", 10*time.Second)
	worker := st.Workers[0].PID
	a.cmd.Process.Kill()
	<-a.done
	a.done = nil
	a.start()
	st = a.waitHealthy("", 10*time.Second)
	if w := st.Workers[0]; w.PID != worker || !w.Adopted {
		t.Errorf("after the core's restart the worker is %+v; want pid %d adopted", w, worker)
	}
	if pids := a.workers(); len(pids) != 1 {
		t.Errorf("worker processes after the core's restart: %v, want exactly one", a.processes())
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if pids := a.workers(); len(pids) != 0 {
		t.Errorf("worker processes after the core stopped: %v", a.processes())
	}
}

func TestAgentSystemdNotify(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	expect := func(want string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("the notify socket closed before %q", want)
				}
				if slices.Contains(strings.Split(m, "\n"), want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q on the notify socket", want)
			}
		}
	}

	a := newAgent(t, agentBinary(t, "3.1.0.0"), "", "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000")
	a.start()
	expect("READY=1")
	expect("WATCHDOG=1")
	st := a.waitHealthy("", 10*time.Second)
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.Workers[0].PID))
	if bytes.Contains(env, []byte("NOTIFY_SOCKET=")) {
		t.Errorf("the worker inherited NOTIFY_SOCKET")
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1")
	if err := <-a.done; err != nil {
		t.Errorf("the core exited with %v after SIGTERM", err)
	}
	a.done = nil
}

func TestAgentConfigCommand(t *testing.T) {
	t.Parallel()
	bin := agentBinary(t, "3.1.0.0")
	a := newAgent(t, bin, `{"Agent": {"SelfUpdateScheduleDay": 9, "SelfUpdte": true}, "Workers": [{"Name": "w", "Backoff": {"InitialMillis": 0}}]}`)
	out, errOut, err := a.run("config", "--json")
	if err != nil {
		t.Fatalf("config --json: %v, %s", err, errOut)
	}
	var got struct {
		Source   string
		Config   Config
		Warnings []string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("config --json printed %q: %v", out, err)
	}
	if got.Source != a.config || got.Config.Agent.SelfUpdateScheduleDay != 7 || len(got.Warnings) != 2 ||
		!strings.Contains(strings.Join(got.Warnings, "\n"), "did you mean SelfUpdate?") {
		t.Errorf("config --json = %s", out)
	}
	if w := got.Config.Workers[0]; *w.Backoff.InitialMillis != 0 || w.Backoff.MaxSeconds != 300 || w.Protocol != "workerproto" || w.StopTimeoutSeconds != 10 {
		t.Errorf("effective worker %+v", w)
	}
	// A configuration the core cannot use stops it with the reason.
	bad := newAgent(t, bin, `{"Agent": {"Region": "us-east-1",}}`)
	cmd := exec.Command(bin, bad.globals()...)
	cmd.Env = bad.env
	outB, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(outB), "line 1, column") {
		t.Errorf("core with malformed config = %v, %q", err, outB)
	}
}

func TestAgentWorkerOutlivesItsCoreByTheGrace(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), `{"Workers": [{"Name": "ssm-agent-worker", "Args": ["--core-grace", "1s"]}]}`)
	a.start()
	worker := a.waitHealthy("", 10*time.Second).Workers[0].PID
	a.cmd.Process.Kill()
	<-a.done
	a.done = nil
	if !running(worker) {
		t.Fatalf("the worker died with its core at once")
	}
	a.waitFor("the worker gone after its core's grace", 10*time.Second, func() (bool, string) {
		return !running(worker), "still running"
	})
}

func TestAgentSSMv3Worker(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), `{"Agent": {"Region": "us-east-1"}, "Identity": {"CustomIdentities": [{"InstanceID": "i-0123456789abcdef0", "Region": "us-east-1"}]},
  "Workers": [{"Name": "ssm-agent-worker", "Protocol": "ssm-v3", "HealthIntervalSeconds": 1, "MaxMissedHealthChecks": 2}]}`)
	a.start() // healthy: the worker answered a health survey
	identity, err := os.ReadFile(filepath.Join(a.dir, "data", "runtimeconfig", "identity_config.json"))
	if err != nil || string(identity) != wantCustomFile { // off EC2, the custom identity after OnPrem and EC2
		t.Errorf("identity file: %s, %v", identity, err)
	}
	a.waitFor("a survey answered after the first", 10*time.Second, func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		w := st.Workers[0]
		return w.Ready && w.LastPingUs > 0, fmt.Sprintf("%+v", w)
	})

	// Killed, it is back.
	first := a.waitHealthy("", 10*time.Second).Workers[0].PID
	syscall.Kill(first, syscall.SIGKILL)
	second := 0
	a.waitFor("the ssm-v3 worker back after SIGKILL", 10*time.Second, func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		w := st.Workers[0]
		second = w.PID
		return w.PID != first && w.Ready, fmt.Sprintf("%+v", w)
	})

	// Hung, it answers no survey and is replaced.
	syscall.Kill(second, syscall.SIGSTOP)
	a.waitFor("the SIGSTOPped ssm-v3 worker replaced", 20*time.Second, func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		w := st.Workers[0]
		return w.PID != second && w.PID > 0 && w.Ready && !running(second), fmt.Sprintf("%+v", w)
	})

	// Stopped: asked with TerminateWorkerRequest, it exits by itself.
	third := a.waitHealthy("", 10*time.Second).Workers[0].PID
	if err := a.stop(); err != nil {
		t.Fatalf("the core exited with %v\n%s", err, a.output())
	}
	if running(third) {
		t.Errorf("the ssm-v3 worker %d still runs after the core stopped", third)
	}
	log, _ := os.ReadFile(filepath.Join(a.dir, "log", "ssm-agent-worker.log"))
	if !bytes.Contains(log, []byte("TerminateWorkerRequest received")) {
		t.Errorf("the worker was not asked to terminate; its log:\n%s", log)
	}
}
