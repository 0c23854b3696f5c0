// Command myagent is a complete self-updating agent built from ssmkit's
// public packages alone: a core that supervises a workerproto worker (this
// binary, as "myagent worker"), records audit events, and updates itself
// from a file:// or https:// manifest — through a guardian (this binary,
// as "myagent guardian") that hands the core over to the new version,
// keeps the worker running, and goes back if the new version is not
// healthy in time.
//
//	go build -ldflags "-X main.version=1.0.0" -o myagent ./examples/myagent
//	./myagent -dir /tmp/myagent -manifest file:///srv/releases/manifest.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/selfupdate/handover"
	"github.com/ssmkit/ssmkit/supervisor"
	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/workerproto"
)

var version = "1.0.0" // set with -ldflags "-X main.version=…"

// agent is the core's state that its control socket and updater share.
type agent struct {
	dir, manifestURL string
	firstCheck       time.Duration
	healthTimeout    time.Duration
	sup              *supervisor.Supervisor
	pipeline         *telemetry.Pipeline
	stop             context.CancelFunc
	handingOver      atomic.Bool
}

func main() {
	log.SetFlags(0)
	cmd := ""
	if len(os.Args) > 1 && (os.Args[1] == "worker" || os.Args[1] == "guardian" || os.Args[1] == "version") {
		cmd = os.Args[1]
	}
	if cmd == "version" {
		fmt.Println(version)
		return
	}
	if cmd == "worker" {
		runWorker()
		return
	}
	a := &agent{}
	fs := flag.NewFlagSet("myagent", flag.ExitOnError)
	fs.StringVar(&a.dir, "dir", "/tmp/myagent", "the agent's `DIR`: install, state, logs")
	fs.StringVar(&a.manifestURL, "manifest", "", "the release manifest's `URL` (file:// or https://)")
	fs.DurationVar(&a.firstCheck, "first-check", time.Minute, "how soon the first update check comes")
	fs.DurationVar(&a.healthTimeout, "health-timeout", time.Minute, "how long a new version has to prove healthy")
	args := os.Args[1:]
	if cmd == "guardian" {
		args = args[1:]
	}
	fs.Parse(args)
	if abs, err := filepath.Abs(a.dir); err == nil {
		a.dir = abs
	}
	var err error
	if cmd == "guardian" {
		err = a.runGuardian()
	} else {
		err = a.runCore()
	}
	if err != nil {
		log.Fatalf("myagent %s: %v", cmd, err)
	}
}

func (a *agent) path(parts ...string) string {
	return filepath.Join(append([]string{a.dir}, parts...)...)
}

func (a *agent) flags() []string {
	return []string{"-dir", a.dir, "-manifest", a.manifestURL, "-first-check", a.firstCheck.String(), "-health-timeout", a.healthTimeout.String()}
}

// updateConfig is what the core's and the guardian's updaters share.
func (a *agent) updateConfig() selfupdate.Config {
	return selfupdate.Config{
		ManifestURL: a.manifestURL, Package: "myagent", Platform: manifest.OSPlatform(),
		Current:    manifest.MustParseVersion(version),
		InstallDir: a.path("install"), StateDir: a.path("state", "update"),
		HealthTimeout: a.healthTimeout, HealthInterval: 100 * time.Millisecond,
		Schedule: selfupdate.Schedule{Days: 1, JitterMin: a.firstCheck, JitterMax: a.firstCheck},
	}
}

func (a *agent) runCore() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a.stop = stop
	self, err := os.Executable()
	if err != nil {
		return err
	}
	a.pipeline, err = telemetry.Open(telemetry.Config{Dir: a.path("state", "telemetry"), AgentVersion: version,
		Sinks: []telemetry.SinkConfig{{Sink: &telemetry.AuditFiles{Dir: a.path("log", "audit"), Prefix: "myagent-audit-"}}}})
	if err != nil {
		return err
	}
	go a.pipeline.Serve(ctx)
	a.record("agent", "myagent.start")

	l := selfupdate.Layout{Dir: a.path("install")}
	worker := self // the worker runs the version current points at, once there is one
	if v, err := l.Current(); err == nil {
		worker = filepath.Join(l.VersionDir(v), "myagent")
	}
	a.sup, err = supervisor.New(supervisor.Config{StateDir: a.path("state", "supervisor"), Socket: a.path("state", "core.sock"),
		OnWorkerEvent: func(_ string, e workerproto.Event) error {
			return a.pipeline.Record(ctx, telemetry.Event{Type: e.Type, Name: e.Name})
		}})
	if err == nil {
		err = a.sup.Add(supervisor.Spec{Name: "worker", Path: worker, Args: []string{"worker"}, Protocol: supervisor.ProtocolWorkerproto,
			Output: supervisor.Output{Mode: supervisor.OutputFile, Path: a.path("log", "worker.log")}})
	}
	if err != nil {
		return err
	}
	supCtx, supCancel := context.WithCancel(context.Background())
	defer supCancel()
	supDone := make(chan error, 1)
	go func() { supDone <- a.sup.Serve(supCtx) }()

	os.Remove(a.path("state", "control.sock"))
	ln, err := net.Listen("unix", a.path("state", "control.sock"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handover.Handler(a)}
	go srv.Serve(ln)

	cfg := a.updateConfig()
	cfg.Adopt = map[string]string{"myagent": self}
	cfg.Restarter, cfg.Health = handover.Self{Version: version}, handover.Self{Version: version}
	cfg.Launcher = &selfupdate.DetachedCommand{Path: self, Binary: "myagent", Args: append([]string{"guardian"}, a.flags()...)}
	cfg.OnResult = func(r selfupdate.Result) { a.record("agent_update_result", r.Code) }
	u, err := selfupdate.New(cfg)
	if err != nil {
		return err
	}
	go u.Serve(ctx)

	<-ctx.Done()
	if a.handingOver.Load() {
		a.sup.Detach() // the worker keeps running; the next version adopts it
	}
	supCancel()
	<-supDone
	a.pipeline.Close(context.Background())
	srv.Close()
	if a.handingOver.Load() {
		return handover.ExecCurrent(l, "myagent", os.Args, os.Environ())
	}
	return nil
}

func (a *agent) record(typ, name string) {
	if err := a.pipeline.Record(context.Background(), telemetry.Event{Type: typ, Name: name}); err != nil {
		log.Print(err)
	}
}

// Status and Handover make the core a handover.Agent for its socket.
func (a *agent) Status() handover.Status {
	ready, _ := a.sup.Ready()
	return handover.Status{Version: version, PID: os.Getpid(), Healthy: ready}
}

func (a *agent) Handover() (bool, error) {
	a.handingOver.Store(true)
	go a.stop()
	return handover.CanExec, nil
}

// runGuardian finishes the update the journal describes.
func (a *agent) runGuardian() error {
	cfg := a.updateConfig()
	g := &handover.Guardian{Core: handover.Dial(a.path("state", "control.sock")), Layout: selfupdate.Layout{Dir: cfg.InstallDir},
		Binary: "myagent", Args: a.flags(), Log: func(msg string, args ...any) { log.Println(append([]any{msg}, args...)...) }}
	cfg.Restarter, cfg.Health = g, g
	u, err := selfupdate.New(cfg)
	if err != nil {
		return err
	}
	r, err := g.Run(context.Background(), u)
	log.Printf("update %s: %v", r.Code, err)
	return nil
}

// runWorker is the worker: it says it started, and waits for the core's
// word to stop.
func runWorker() {
	signal.Ignore(os.Interrupt)
	w := &workerproto.Worker{Name: "worker", Version: version}
	err := w.Serve(context.Background(), func(ctx context.Context) error {
		if err := w.Event(ctx, workerproto.Event{Type: "agent", Name: "worker.start"}); err != nil {
			return err
		}
		if err := w.Ready(); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
	if err != nil && !errors.Is(err, workerproto.ErrTerminated) {
		log.Fatal(err)
	}
}
