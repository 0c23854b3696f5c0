package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssmkit/ssmkit/internal/ctlhttp"
	"github.com/ssmkit/ssmkit/sdnotify"
	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/selfupdate/handover"
	"github.com/ssmkit/ssmkit/supervisor"
	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
	"github.com/ssmkit/ssmkit/workerproto"
	"github.com/ssmkit/ssmkit/workerproto/ssmv3"
)

// shutdownTimeout bounds the delivery of pending telemetry at exit.
const shutdownTimeout = 10 * time.Second

// core is the running agent: the wiring of the packages.
type core struct {
	g        *globals
	cfg      Config
	log      *slog.Logger
	started  time.Time
	self     string                             // the executable the core runs
	env      []string                           // the environment it was started with
	pipeline atomic.Pointer[telemetry.Pipeline] // nil while telemetry cannot open
	// telemetryErr says why it cannot; telemetryRetry is the goroutine
	// that tries again.
	telemetryErr   atomic.Value // string
	telemetryRetry sync.WaitGroup
	sup            *supervisor.Supervisor
	updater        *selfupdate.Updater
	stop           context.CancelFunc
	handingOver    atomic.Bool
	running        atomic.Bool               // the workers are supervised
	serving        atomic.Bool               // the scheduled updater's Serve runs, guarding unproven updates
	v3cores        map[[2]string]*ssmv3.Core // by health and termination socket
	managed        bool                      // under a service manager that restarts the core
	updateMu       sync.Mutex                // serialises update requests

	// lastCheck is what the scheduled updater's last check said
	// (update_rollout.go).
	lastCheck atomic.Pointer[updateWhen]
}

func runCore(s streams, g *globals) int {
	c := &core{g: g, started: time.Now(), env: os.Environ(), log: slog.New(slog.NewTextHandler(s.stderr, nil))}
	if err := c.configure(); err != nil {
		return failure(s, "core", err)
	}
	c.managed = os.Getenv("NOTIFY_SOCKET") != "" || os.Getenv("INVOCATION_ID") != ""
	notifier := sdnotify.FromEnv()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.stop = stop

	// The control socket first: while another core answers on it, this
	// one must touch nothing of the data directory.
	ctl, err := listenControl(g.dataDir)
	if err != nil {
		return failure(s, "core", err)
	}
	fmt.Fprintf(s.stdout, "ssm-agent %s (pid %d)\n  data:      %s\n  audit log: %s\n  logs:      %s\n  control:   %s\n",
		version, os.Getpid(), g.dataDir, filepath.Join(g.logDir, "audits"), g.logDir, controlSocket(g.dataDir))
	if err := c.start(ctx); err != nil {
		c.closeV3()
		ctl.Close()
		stop()
		c.closeTelemetry(context.Background())
		return failure(s, "core", err)
	}
	supCtx, supCancel := context.WithCancel(context.Background())
	supDone := make(chan struct{})
	go func() { c.sup.Serve(supCtx); close(supDone) }()
	c.running.Store(true)

	srv := &http.Server{Handler: c.handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: ctlhttp.MaxHeader}
	go srv.Serve(ctl)

	updCtx, updCancel := context.WithCancel(ctx)
	updDone := make(chan struct{})
	go func() {
		defer close(updDone)
		if c.updater != nil {
			c.guardUpdates(updCtx)
		}
	}()

	notifier.Notify(sdnotify.Ready + "\nSTATUS=supervising workers")
	watchdogDone := make(chan struct{})
	go func() { notifier.Serve(ctx); close(watchdogDone) }()
	c.log.Info("core running", "version", version, "workers", len(c.cfg.Workers))
	releaseStartupPagesLater() // startpages_linux.go

	<-ctx.Done()
	notifier.Notify(sdnotify.Stopping)
	<-watchdogDone
	return c.shutdown(func() { updCancel(); <-updDone }, func() { supCancel(); <-supDone }, srv)
}

// configure loads the configuration and checks it, the directories and
// the programs as the core will use them.
func (c *core) configure() error {
	cfg, warnings, err := loadConfig(c.g.config)
	if err != nil {
		return err
	}
	c.cfg = cfg
	for _, w := range warnings {
		c.log.Warn("configuration: " + w)
	}
	if err := checkRuntime(cfg, c.g); err != nil {
		return fmt.Errorf("config %s: %w", configSource(c.g.config), err)
	}
	if err := prepareDirs(c.g, cfg); err != nil {
		return err
	}
	c.self, err = os.Executable()
	return err
}

// start opens telemetry, finishes or undoes an interrupted update —
// before the workers start, its result recorded, telemetry being up — and
// sets the workers up.
func (c *core) start(ctx context.Context) error {
	if err := c.startTelemetry(ctx); err != nil {
		return err
	}
	c.record(telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart})
	var err error
	if c.updater, err = c.newUpdater(); err != nil {
		c.log.Warn("self-update is unavailable", "err", err)
	} else {
		c.recoverUpdate(ctx) // telling the result of an update that has ended
	}
	return c.startSupervisor()
}

// shutdown stops the core: its updates, then its workers — or not, when
// it hands over, so that the next version adopts them — then delivers
// telemetry, and closes the control socket last: while it answers, a
// next core (and the update guardian) knows this one still holds the data
// directory. Handing over, it execs the version current points at.
func (c *core) shutdown(stopUpdates, stopSupervisor func(), srv *http.Server) int {
	handingOver := c.handingOver.Load()
	if handingOver {
		c.log.Info("handing over to the next core: the workers keep running")
		c.sup.Detach()
	} else {
		c.log.Info("stopping")
	}
	stopUpdates()
	stopSupervisor()
	c.closeV3()
	tctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	c.closeTelemetry(tctx)
	// Answers being written (the handover's) are let finish.
	sctx, scancel := context.WithTimeout(context.Background(), time.Second)
	defer scancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	if handingOver && handover.CanExec {
		return c.execCurrent()
	}
	c.log.Info("stopped")
	return exitOK
}

// execCurrent replaces this process with the version current points at:
// the handover of an update keeps the core's pid (and its service
// manager's view of it), and leaves no moment without a core.
func (c *core) execCurrent() int {
	path, err := handover.CurrentBinary(selfupdate.Layout{Dir: c.g.installDir}, binaryName())
	if err == nil {
		c.log.Info("handing over: running the version current points at", "path", path)
		err = handover.ExecCurrent(selfupdate.Layout{Dir: c.g.installDir}, binaryName(), os.Args, c.env)
	}
	c.log.Error("handing over to the next core", "err", err)
	return exitFailure
}

// record records a telemetry event, logging a failure.
func (c *core) record(e telemetry.Event) {
	if err := c.recordEvent(e); err != nil {
		c.log.Error("recording telemetry", "event", e.Name, "err", err)
	}
}

// errNoTelemetry is recordEvent's error while telemetry cannot open.
var errNoTelemetry = errors.New("telemetry is unavailable")

func (c *core) recordEvent(e telemetry.Event) error {
	p := c.pipeline.Load()
	if p == nil {
		return errNoTelemetry
	}
	return p.Record(context.Background(), e)
}

// closeTelemetry stops retrying to open telemetry, and delivers what is
// pending until ctx ends.
func (c *core) closeTelemetry(ctx context.Context) {
	c.telemetryRetry.Wait() // its ctx, the core's, has ended or fails only at start
	if p := c.pipeline.Load(); p != nil {
		p.Close(ctx)
	}
}

// startSupervisor sets the workers up.
func (c *core) startSupervisor() error {
	sup, err := supervisor.New(supervisor.Config{
		StateDir: supervisorState(c.g.dataDir),
		Socket:   workerSocket(c.g.dataDir),
		// The core waits for none of its other children itself (a
		// detached guardian's Wait may fail): no zombie piles up.
		ReapAll: true,
		OnEvent: func(e supervisor.Event) {
			level := slog.LevelInfo
			if e.Kind == supervisor.EventGaveUp || e.Kind == supervisor.EventUnresponsive {
				level = slog.LevelWarn
			}
			c.log.Log(context.Background(), level, "worker "+string(e.Kind), "worker", e.Worker, "pid", e.PID, "detail", e.String())
		},
		OnWorkerEvent: func(worker string, e workerproto.Event) error {
			return c.recordEvent(telemetry.Event{
				ID: e.ID, Time: e.Time, Type: e.Type, Name: e.Name, Attributes: e.Attributes, AgentVersion: version,
			})
		},
	})
	if err != nil {
		return err
	}
	for _, w := range c.cfg.Workers {
		spec, err := c.workerSpec(w)
		if err != nil {
			return err
		}
		if err := sup.Add(spec); err != nil {
			return err
		}
	}
	c.sup = sup
	return nil
}

// workerExecutable is the binary the built-in worker runs: current in the
// install layout when the core runs from it, so that a restarted worker
// picks up an update; else this very binary.
func (c *core) workerExecutable() string {
	current := filepath.Join(c.g.installDir, "current", "ssm-agent")
	if resolved, err := filepath.EvalSymlinks(current); err == nil {
		if self, err := filepath.EvalSymlinks(c.self); err == nil && self == resolved {
			return current
		}
	}
	return c.self
}

// workerSpec maps a Workers entry to a supervisor spec, with the v3
// sockets of an ssm-v3 worker listening.
func (c *core) workerSpec(w WorkerConfig) (supervisor.Spec, error) {
	spec := c.baseSpec(w)
	if w.Protocol == "ssm-v3" {
		health, term := c.v3Sockets(w)
		v3, err := c.v3Core(health, term)
		if err != nil {
			return spec, fmt.Errorf("Workers: %s: %w", w.Name, err)
		}
		spec.Protocol, spec.Probe = supervisor.ProtocolProbe, v3
	}
	return spec, nil
}

// baseSpec maps a Workers entry, whose values checkWorkers has checked and
// filled in, to a supervisor spec; an ssm-v3 worker still lacks its prober.
func (c *core) baseSpec(w WorkerConfig) supervisor.Spec {
	spec := supervisor.Spec{Name: w.Name, Path: w.Path, Args: w.Args, Env: w.Env, Restart: supervisor.Policy(w.Restart),
		Orphans: supervisor.OrphanPolicy(w.Orphans)}
	if spec.Path == "" {
		spec.Path, spec.Args = c.workerExecutable(), append([]string{"worker"}, w.Args...)
	}
	switch w.Protocol {
	case "workerproto":
		spec.Protocol = supervisor.ProtocolWorkerproto
	case "none":
		spec.Protocol = supervisor.ProtocolPlain
	case "ssm-v3":
		if w.Path == "" {
			health, term := c.v3Sockets(w)
			spec.Args = append([]string{"worker", "--protocol", "ssm-v3", "--health-socket", health, "--termination-socket", term}, w.Args...)
		}
	}
	spec.MaxMissedPings = w.MaxMissedHealthChecks
	initial := 100
	if w.Backoff.InitialMillis != nil {
		initial = *w.Backoff.InitialMillis
	}
	if initial == 0 {
		spec.Backoff.Initial = -1
	} else {
		spec.Backoff.Initial = time.Duration(initial) * time.Millisecond
	}
	spec.Backoff.Max = time.Duration(orDefault(w.Backoff.MaxSeconds, 300)) * time.Second
	// StartLimit counts starts, whatever their exit status, as systemd's
	// StartLimitBurst does; no second, decaying failure limit.
	spec.StartLimit = supervisor.StartLimit{Burst: orDefault(w.StartLimit.Burst, 5),
		Interval: time.Duration(orDefault(w.StartLimit.IntervalSeconds, 10)) * time.Second}
	spec.Intensity.MaxFailures = -1
	spec.HealthInterval = time.Duration(orDefault(w.HealthIntervalSeconds, c.cfg.Agent.LongRunningWorkerMonitorIntervalSeconds)) * time.Second
	spec.StopTimeout = time.Duration(orDefault(w.StopTimeoutSeconds, 10)) * time.Second
	// The worker holds its output itself — the journal's stream under
	// systemd, else an O_APPEND log file — so its lines outlive its core.
	spec.Output = supervisor.Output{Mode: supervisor.OutputAuto, Path: filepath.Join(c.g.logDir, w.Name+".log")}
	return spec
}

// noProber stands in for the v3 sockets when a spec is only checked.
type noProber struct{}

func (noProber) Probe(context.Context, int) error     { return nil }
func (noProber) Terminate(context.Context, int) error { return nil }

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// handler serves the control socket: the core's status and updates, and
// the handover's endpoints (handover.Handler, which c is the Agent of).
func (c *core) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", handover.Handler(c))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { ctlhttp.Write(w, c.status()) })
	mux.HandleFunc("POST /update", func(w http.ResponseWriter, r *http.Request) {
		var req UpdateRequest
		if ctlhttp.Decode(w, r, &req, true) {
			ctlhttp.Write(w, c.updateNow(r.Context(), req.ManifestURL))
		}
	})
	return mux
}

// Status is the core's status as its guardian reads it.
func (c *core) Status() handover.Status {
	ready, _ := c.sup.Ready()
	return handover.Status{Version: version, PID: os.Getpid(), Healthy: ready}
}

// Handover agrees to hand over — nothing is stopped unless the next
// version can be run — and stops the core, leaving the workers running.
func (c *core) Handover() (bool, error) {
	if handover.CanExec {
		if _, err := handover.CurrentBinary(selfupdate.Layout{Dir: c.g.installDir}, binaryName()); err != nil {
			return false, err
		}
	}
	c.handingOver.Store(true)
	go c.stop()
	return handover.CanExec, nil
}

// Report is told that a guardian has ended an update: the updater's
// Recover tells its result, once; with no updater, r is recorded as told.
func (c *core) Report(ctx context.Context, r selfupdate.Result) error {
	if c.updater == nil {
		c.onResult(r)
		return nil
	}
	c.recoverUpdate(ctx)
	return nil
}

// RestartWorkers restarts the built-in workers that do not run the binary
// the core would start now (after an update, the old version's), one at a
// time, and returns their names.
func (c *core) RestartWorkers(ctx context.Context) ([]string, error) {
	builtin := make(map[string]bool)
	for _, w := range c.cfg.Workers {
		builtin[w.Name] = w.Path == "" // the others are not ours to update
	}
	return c.sup.RestartStale(ctx, func(st supervisor.WorkerStatus) bool { return builtin[st.Name] })
}

// protocolOf is a worker's protocol as its configuration names it
// (workerproto, ssm-v3, none).
func (c *core) protocolOf(w supervisor.WorkerStatus) string {
	for _, wc := range c.cfg.Workers {
		if wc.Name == w.Name {
			return wc.Protocol
		}
	}
	return string(w.Protocol)
}

// spoolStatus is the telemetry spool's part of the status.
func (c *core) spoolStatus() SpoolStatus {
	p := c.pipeline.Load()
	if p == nil {
		reason, _ := c.telemetryErr.Load().(string)
		return SpoolStatus{State: "unavailable", Reason: reason}
	}
	sp := p.SpoolStatus()
	return SpoolStatus{State: sp.State, Reason: sp.Reason, Since: sp.Since, Rejected: sp.Rejected, Bytes: sp.Bytes}
}

// pipelineStatus is the sinks' status; none while telemetry is unavailable.
func (c *core) pipelineStatus() []telemetry.SinkStatus {
	if p := c.pipeline.Load(); p != nil {
		return p.Status()
	}
	return nil
}

// status builds the core's Status.
func (c *core) status() Status {
	st := Status{Version: version, PID: os.Getpid(), Started: c.started, DataDir: c.g.dataDir, LogDir: c.g.logDir,
		Workers: []WorkerStatus{}, Telemetry: []TelemetryStatus{}}
	for _, w := range c.sup.Status() {
		ws := WorkerStatus{Name: w.Name, PID: w.PID, State: string(w.State), Protocol: c.protocolOf(w), Ready: w.Ready,
			Adopted: w.Adopted, Restarts: w.Restarts, LastPingUs: w.LastPing.Microseconds(), Reason: w.Reason, Executable: w.Executable}
		if w.LastExit != nil {
			ws.LastExit = w.LastExit.String()
		}
		st.Workers = append(st.Workers, ws)
	}
	st.Healthy, st.HealthReasons = c.sup.Ready()
	st.Update = c.updateStatus()
	st.TelemetrySpool = c.spoolStatus()
	for _, t := range c.pipelineStatus() {
		st.Telemetry = append(st.Telemetry, TelemetryStatus{Sink: t.Name, State: t.State, Pending: t.PendingEvents,
			Delivered: t.Delivered, Dropped: t.Dropped, LastError: t.LastError})
	}
	return st
}
