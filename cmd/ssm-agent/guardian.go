package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/selfupdate/handover"
)

// Timeouts of the guardian's talks with the core.
const (
	handoverTimeout = 60 * time.Second // the old core stops, its workers do not
	reportTimeout   = 60 * time.Second // a result reaches the core that runs
)

const guardianSynopsis = `[--service-manager none|systemd]

Finishes an update: hands the running core over to the version current
points at, waits for it to be healthy, and commits the update or rolls it
back. The core starts it, detached, from the old version's binary; it is
not meant to be run by hand.

Flags:`

func runGuardian(s streams, g *globals, args []string) int {
	const name = "update guardian"
	fs := newFlagSet(s, g, name, guardianSynopsis)
	mgr := fs.String("service-manager", "none", "`NAME`: systemd restarts the core itself; with none the guardian starts it")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	if *mgr != "none" && *mgr != "systemd" {
		return usageError(fs, "--service-manager %q: want none or systemd", *mgr)
	}
	signal.Ignore(os.Interrupt, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	cfg, _, err := loadConfig(g.config)
	if err != nil {
		return failure(s, name, err)
	}
	ucfg, err := updateConfig(g, cfg)
	if err != nil {
		return failure(s, name, err)
	}
	gd := &guardian{g: g, log: slog.New(slog.NewTextHandler(s.stderr, nil)).With("guardian", os.Getpid())}
	gate := gd.newGate(*mgr == "systemd")
	ucfg.Restarter, ucfg.Health = gate, gate
	ucfg.OnResult = gd.report
	if gd.u, err = selfupdate.New(ucfg); err != nil {
		return failure(s, name, err)
	}
	if j, err := gd.u.Journal(); err == nil {
		gate.Source = j.Source // going back to it needs no preflight
	}
	r, err := gd.u.RunGuardian(ctx)
	if r.Code == "" {
		return failure(s, name, err)
	}
	// The version that runs now is healthy (or nothing would run): its
	// workers are restarted on it.
	rctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	var restarted map[string][]string
	if err := retryCore(rctx, func() error {
		return callCore(rctx, g.dataDir, "POST", "/workers/restart", nil, &restarted)
	}); err != nil {
		gd.log.Warn("restarting the workers on the running version", "err", err)
	} else {
		gd.log.Info("workers restarted on the running version", "workers", restarted["restarted"])
	}
	if err != nil {
		return exitFailure
	}
	return exitOK
}

// A guardian finishes an update from outside the core: handover.Guardian
// over the control socket is its gate's Restarter and HealthChecker, and it
// tells the core the result.
type guardian struct {
	g   *globals
	log *slog.Logger
	u   *selfupdate.Updater
}

// newGate returns the gate of the guardian's update.
func (gd *guardian) newGate(managed bool) *handover.Guardian {
	hg := &handover.Guardian{
		Core:    handover.Dial(controlSocket(gd.g.dataDir)),
		Layout:  selfupdate.Layout{Dir: gd.g.installDir},
		Binary:  binaryName(),
		Args:    globalArgs(gd.g),
		Managed: managed,
		Launch: func(ctx context.Context, path string, args []string) (int, error) {
			l := &detachedLauncher{path: path, args: args, logPath: filepath.Join(gd.g.logDir, "ssm-agent.log")}
			return l.Launch(ctx)
		},
		Log: func(msg string, args ...any) { gd.log.Info(msg, args...) },
	}
	return hg
}

// report hands a result to the core that runs now, which records it.
func (gd *guardian) report(r selfupdate.Result) {
	req := ResultRequest{Code: r.Code, Source: r.Source, Target: r.Target}
	if j, err := gd.u.Journal(); err == nil && j.Result == r.Code {
		req.Key = journalKey(j)
	}
	gd.log.Info("update result", "result", r.Code, "err", r.Err)
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	if err := retryCore(ctx, func() error { return callCore(ctx, gd.g.dataDir, "POST", "/result", req, nil) }); err != nil {
		// The next core to start records it from the journal.
		gd.log.Warn("the core was not told the result", "err", err)
	}
}

// retryCore calls f until it succeeds or ctx ends: a core may be starting.
func retryCore(ctx context.Context, f func() error) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}
