package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ssmkit/ssmkit/internal/procid"
	"github.com/ssmkit/ssmkit/selfupdate"
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
	gd := &guardian{g: g, managed: *mgr == "systemd", log: slog.New(slog.NewTextHandler(s.stderr, nil)).With("guardian", os.Getpid())}
	ucfg.Restarter, ucfg.Health = gd, gd
	ucfg.OnResult = gd.report
	if gd.u, err = selfupdate.New(ucfg); err != nil {
		return failure(s, name, err)
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

// A guardian is the Restarter and HealthChecker of an update's gate, run
// from outside the core.
type guardian struct {
	g       *globals
	managed bool // a service manager restarts the core
	log     *slog.Logger
	u       *selfupdate.Updater
	core    procid.ID // the core last seen, or started
}

// Restart has the version current points at run as the core. A core that
// answers is handed over: it lets its workers be and execs that version in
// place (on Windows it exits, and the next core is started here). With no
// core at all, the service manager starts one, or else the guardian does,
// detached — once: a core it started that dies means the version does not
// run (selfupdate.ErrNotRunning), and so does a binary that cannot even
// say its version, tried before anything is handed over. ctx ends at the
// update's health deadline.
func (gd *guardian) Restart(ctx context.Context, v string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, handoverTimeout)
		defer cancel()
	}
	if err := gd.preflight(ctx, v); err != nil {
		return err
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	handedOver, launched := false, false
	for {
		var st Status
		err := callCore(ctx, gd.g.dataDir, "GET", "/status", nil, &st)
		switch {
		case err == nil && st.Version == v:
			gd.core = procid.Of(st.PID)
			return nil
		case err == nil && !handedOver:
			gd.core = procid.Of(st.PID)
			gd.log.Info("handing the core over", "pid", st.PID, "version", st.Version, "next", v)
			var hr HandoverReply
			if err := callCore(ctx, gd.g.dataDir, "POST", "/handover", nil, &hr); err != nil {
				return fmt.Errorf("handing over core %d: %w", st.PID, err)
			}
			handedOver = true
			if !hr.Exec {
				if err := waitExit(ctx, gd.g.dataDir, gd.core, handoverTimeout); err != nil {
					return fmt.Errorf("handing over core %d: %w", st.PID, err)
				}
			}
		case err == nil || gd.core.Running():
			// The core is on its way: exec'ing, stopping or starting.
		case gd.managed:
			gd.log.Info("the service manager restarts the core", "version", v)
			return nil
		case launched:
			return fmt.Errorf("the core started on %s (pid %d) exited: %w", v, gd.core.PID, selfupdate.ErrNotRunning)
		default:
			if err := gd.launchCore(ctx, v); err != nil {
				return err
			}
			launched = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no core runs %s by the deadline: %w", v, ctx.Err())
		case <-t.C:
		}
	}
}

// preflightTimeout bounds the run of a new binary's version command.
const preflightTimeout = 20 * time.Second

// preflight runs the binary of the version current points at as
// `ssm-agent version`: one that cannot start at all (another architecture,
// a broken file) is found before the running core is handed over to it.
func (gd *guardian) preflight(ctx context.Context, v string) error {
	if j, err := gd.u.Journal(); err == nil && v == j.Source {
		return nil // going back to the version that ran: no time to lose
	}
	path, err := currentBinary(gd.g.installDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	out, err := cmd.Output()
	if err != nil || !slices.Contains(strings.Fields(string(out)), v) {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Errorf("%s does not run as version %s (%v, said %q): %w", path, v, err, msg, selfupdate.ErrNotRunning)
	}
	return nil
}

// launchCore starts the version current points at, detached.
func (gd *guardian) launchCore(ctx context.Context, v string) error {
	path, err := currentBinary(gd.g.installDir)
	if err != nil {
		return err
	}
	l := &detachedLauncher{path: path, args: globalArgs(gd.g), logPath: filepath.Join(gd.g.logDir, "ssm-agent.log")}
	gd.log.Info("starting the core", "version", v, "path", l.path, "log", l.logPath)
	pid, err := l.Launch(ctx)
	if err != nil {
		return err
	}
	gd.core = procid.Of(pid)
	return nil
}

// Check says whether the core that answers runs version v with every
// worker up and ready. A core that has exited will not become healthy:
// with no service manager to start it again, that ends the wait at once.
func (gd *guardian) Check(ctx context.Context, v string) error {
	var st Status
	if err := callCore(ctx, gd.g.dataDir, "GET", "/status", nil, &st); err != nil {
		if !gd.managed && gd.core.StartTicks > 0 && !gd.core.Running() && !controlAnswers(gd.g.dataDir) {
			return fmt.Errorf("core %d has exited: %w", gd.core.PID, selfupdate.ErrNotRunning)
		}
		return err
	}
	if st.PID != gd.core.PID {
		gd.core = procid.Of(st.PID)
	}
	switch {
	case st.Version != v:
		return fmt.Errorf("the core runs %s, not %s", st.Version, v)
	case !st.Healthy:
		return fmt.Errorf("core %s runs, its workers are not all ready", v)
	}
	return nil
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

// waitExit waits until the core id names has exited: its process is gone
// (where start times tell processes apart) and its control socket, which
// it closes last, no longer answers.
func waitExit(ctx context.Context, dataDir string, id procid.ID, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for id.Running() || controlAnswers(dataDir) {
		select {
		case <-ctx.Done():
			return errors.New("it did not exit in time")
		case <-t.C:
		}
	}
	return nil
}
