// Package handover is the part of a self-update that runs outside the
// process being updated: a Guardian that hands the running agent (its
// core) over to the version current points at, waits for that version to
// prove healthy, and goes back the same way if it does not. It is the
// Restarter and HealthChecker of selfupdate's gate in a guardian process —
// the old binary, launched detached by selfupdate.DetachedCommand — that
// calls Updater.RunGuardian.
//
// The guardian reaches the running core through a Core: Dial gives one over
// HTTP on a Unix socket, which Handler serves in the agent; an agent with a
// control channel of its own implements Core on it.
//
//	g := &handover.Guardian{Core: handover.Dial(sock), Layout: layout, Binary: "myagent", Args: args}
//	cfg.Restarter, cfg.Health = g, g
//	u, _ := selfupdate.New(cfg)
//	g.Run(ctx, u) // RunGuardian, then the core is told and restarts its workers
//
// In the agent, Handler serves the socket, Self is the Restarter and
// HealthChecker of the agent's own Updater, and ExecCurrent replaces the
// process when it hands over.
//
// Handing over, the core leaves its workers running and execs the new
// version in place (ExecCurrent), so that there is no moment without a
// core and a service manager sees the same main process; on Windows it
// exits and the guardian starts the next one.
package handover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/internal/procid"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// A Status is what a core tells its guardian.
type Status struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
	// Healthy: the core runs and its workers are ready.
	Healthy bool `json:"healthy"`
}

// A Core is the running agent, as its guardian reaches it.
type Core interface {
	// Status asks the core that runs now; an error means none answers.
	Status(ctx context.Context) (Status, error)
	// Handover asks it to hand over to the version current points at,
	// leaving its workers running: it execs that version in place (exec
	// true) or exits for another process to start it.
	Handover(ctx context.Context) (exec bool, err error)
	// Report tells the core that runs now that an update has ended with
	// r, so that it tells the result (see Reporter).
	Report(ctx context.Context, r selfupdate.Result) error
	// RestartWorkers has it restart its workers that still run an older
	// executable, and returns their names.
	RestartWorkers(ctx context.Context) ([]string, error)
}

// Defaults of Guardian.
const (
	DefaultHandoverTimeout  = time.Minute      // when Restart's context has no deadline
	DefaultPreflightTimeout = 20 * time.Second // the new binary's version command
)

// A Guardian is the Restarter and HealthChecker of an update's gate, run
// from outside the core. Restart has the version current points at run as
// the core: a core that answers is handed over; with no core at all the
// service manager starts one (Managed), or else the guardian does,
// detached — once: a core it started that dies means the version does not
// run (selfupdate.ErrNotRunning), and so does a binary that cannot even say
// its version, tried before anything is handed over. Check says whether
// the core that answers runs the version and is healthy; a core that has
// died ends the wait at once.
type Guardian struct {
	// Core reaches the running core. Required.
	Core Core
	// Layout is the install layout; Binary the agent's file name in a
	// version directory. Required.
	Layout selfupdate.Layout
	Binary string
	// Args are the arguments of a core the guardian starts itself.
	Args []string
	// VersionArgs run the new binary before the handover; its output must
	// hold the version as a word. Default {"version"}; nil with
	// NoPreflight set skips the check.
	VersionArgs []string
	NoPreflight bool
	// Managed says a service manager starts cores: the guardian never
	// does.
	Managed bool
	// Source, when set, names the version the update started from: going
	// back to it skips the preflight.
	Source string
	// Launch starts a core detached; default selfupdate.DetachedCommand,
	// its output appended to LogPath when that is set.
	Launch  func(ctx context.Context, path string, args []string) (pid int, err error)
	LogPath string
	// Log, when set, is told what the guardian does.
	Log func(msg string, args ...any)

	core procid.ID // the core last seen, or started
}

var (
	_ selfupdate.Restarter     = (*Guardian)(nil)
	_ selfupdate.HealthChecker = (*Guardian)(nil)
)

func (g *Guardian) log(msg string, args ...any) {
	if g.Log != nil {
		g.Log(msg, args...)
	}
}

// binary is the agent's executable in the version current points at.
func (g *Guardian) binary() (string, error) { return currentPath(g.Layout, g.Binary) }

// currentPath is binary's path in the version current points at.
func currentPath(l selfupdate.Layout, binary string) (string, error) {
	v, err := l.Current()
	if err != nil {
		return "", err
	}
	return filepath.Join(l.VersionDir(v), binary), nil
}

// Restart runs version v as the core; see Guardian. ctx ends at the
// update's health deadline.
func (g *Guardian) Restart(ctx context.Context, v string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultHandoverTimeout)
		defer cancel()
	}
	if err := g.preflight(ctx, v); err != nil {
		return err
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	handedOver, launched := false, false
	for {
		st, err := g.Core.Status(ctx)
		switch {
		case err == nil && st.Version == v:
			g.core = procid.Of(st.PID)
			return nil
		case err == nil && !handedOver:
			g.core = procid.Of(st.PID)
			g.log("handing the core over", "pid", st.PID, "version", st.Version, "next", v)
			execs, err := g.Core.Handover(ctx)
			if err != nil {
				return fmt.Errorf("handing over core %d: %w", st.PID, err)
			}
			handedOver = true
			if !execs {
				if err := g.waitExit(ctx); err != nil {
					return fmt.Errorf("handing over core %d: %w", st.PID, err)
				}
			}
		case err == nil || g.core.Running():
			// The core is on its way: exec'ing, stopping or starting.
		case g.Managed:
			g.log("the service manager restarts the core", "version", v)
			return nil
		case launched:
			return fmt.Errorf("the core started on %s (pid %d) exited: %w", v, g.core.PID, selfupdate.ErrNotRunning)
		default:
			if err := g.launch(ctx, v); err != nil {
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

// waitExit waits until the core last seen has exited and no core answers.
func (g *Guardian) waitExit(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := g.Core.Status(ctx)
		if err != nil && !g.core.Running() {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("it did not exit in time")
		case <-t.C:
		}
	}
}

// preflight runs the binary of the version current points at with
// VersionArgs: one that cannot start at all (another architecture, a
// broken file) is found before the running core is handed over to it.
func (g *Guardian) preflight(ctx context.Context, v string) error {
	if g.NoPreflight || v == g.Source {
		return nil
	}
	path, err := g.binary()
	if err != nil {
		return err
	}
	args := g.VersionArgs
	if args == nil {
		args = []string{"version"}
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultPreflightTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
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

// launch starts the version current points at, detached.
func (g *Guardian) launch(ctx context.Context, v string) error {
	path, err := g.binary()
	if err != nil {
		return err
	}
	g.log("starting the core", "version", v, "path", path)
	launch := g.Launch
	if launch == nil {
		launch = func(ctx context.Context, path string, args []string) (int, error) {
			return (&selfupdate.DetachedCommand{Path: path, Args: args, LogPath: g.LogPath}).Launch(ctx, "")
		}
	}
	pid, err := launch(ctx, path, g.Args)
	if err != nil {
		return err
	}
	g.core = procid.Of(pid)
	return nil
}

// Check says whether the core that answers runs version v and is healthy.
func (g *Guardian) Check(ctx context.Context, v string) error {
	st, err := g.Core.Status(ctx)
	if err != nil {
		if !g.Managed && g.core.StartTicks > 0 && !g.core.Running() {
			return fmt.Errorf("core %d has exited: %w", g.core.PID, selfupdate.ErrNotRunning)
		}
		return err
	}
	if st.PID != g.core.PID {
		g.core = procid.Of(st.PID)
	}
	switch {
	case st.Version != v:
		return fmt.Errorf("the core runs %s, not %s", st.Version, v)
	case !st.Healthy:
		return fmt.Errorf("core %s runs, its workers are not all ready", v)
	}
	return nil
}
