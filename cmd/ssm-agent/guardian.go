package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/selfupdate/handover"
)

const guardianSynopsis = `[--service-manager none|systemd]

Finishes an update: hands the running core over to the version current
points at, waits for it to be healthy, and commits the update or rolls it
back. The core starts it, detached, from the old version's binary; it is
not meant to be run by hand.

Flags:`

// runGuardian is a handover.Guardian over the control socket: the
// Restarter and HealthChecker of the update's gate; it tells the core the
// result, and has it restart its workers on the version that runs.
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
	log := slog.New(slog.NewTextHandler(s.stderr, nil)).With("guardian", os.Getpid())
	gate := &handover.Guardian{
		Core:    handover.Dial(controlSocket(g.dataDir)),
		Layout:  selfupdate.Layout{Dir: g.installDir},
		Binary:  binaryName(),
		Args:    globalArgs(g),
		Managed: *mgr == "systemd",
		LogPath: filepath.Join(g.logDir, "ssm-agent.log"),
		Log:     func(msg string, args ...any) { log.Info(msg, args...) },
	}
	ucfg.Restarter, ucfg.Health = gate, gate // and no OnResult: the core tells the result
	u, err := selfupdate.New(ucfg)
	if err != nil {
		return failure(s, name, err)
	}
	r, err := gate.Run(ctx, u)
	switch {
	case r.Code == "":
		return failure(s, name, err)
	case err != nil:
		log.Warn("after the update", "err", err)
		return exitFailure
	}
	return exitOK
}
