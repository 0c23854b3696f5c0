package handover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ssmkit/ssmkit/internal/retry"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// Run is a guardian process's whole task, with u configured with g as its
// Restarter and Health (and no OnResult: the agent tells the result). It
// takes the journal's source version as g.Source when that is unset, runs
// u.RunGuardian, then — the version that runs now being healthy, or nothing
// would run — tells the core the result (Core.Report) and has it restart
// its workers that still run the old executable (Core.RestartWorkers),
// each retried for up to DefaultHandoverTimeout while no core answers.
//
// A result is returned whenever the gate ended an update, rolled back too
// (r.Err says why); the error is then the workers' restart's, or nil.
// Without a result the error is why the guardian could not finish. A core
// that could not be told is only logged: its next Recover tells the result
// from the journal.
func (g *Guardian) Run(ctx context.Context, u *selfupdate.Updater) (selfupdate.Result, error) {
	if g.Source == "" {
		if j, err := u.Journal(); err == nil {
			g.Source = j.Source // going back to it needs no preflight
		}
	}
	r, err := u.RunGuardian(ctx)
	if r.Code == "" {
		return r, err
	}
	g.log("update result", "result", r.Code, "err", r.Err)
	if err := untilAnswered(ctx, func(ctx context.Context) error { return g.Core.Report(ctx, r) }); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		g.log("the core was not told the result", "err", err)
	}
	var restarted []string
	err = untilAnswered(ctx, func(ctx context.Context) (err error) {
		restarted, err = g.Core.RestartWorkers(ctx)
		return err
	})
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return r, nil
	case err != nil:
		return r, fmt.Errorf("handover: restarting the workers on the running version: %w", err)
	}
	g.log("workers restarted on the running version", "workers", restarted)
	return r, nil
}

// untilAnswered calls f until it succeeds, is unsupported, or DefaultHandoverTimeout
// (or ctx) ends: a core may be starting. Its delays grow from 100 ms to 1 s.
func untilAnswered(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultHandoverTimeout)
	defer cancel()
	b := retry.New(100*time.Millisecond, time.Second)
	for {
		err := f(ctx)
		if err == nil || errors.Is(err, errors.ErrUnsupported) || !retry.Sleep(ctx, b.Next()) {
			return err
		}
	}
}

// Self is the Restarter and HealthChecker of an agent's own Updater — the
// one that recovers and serves in the agent, not a guardian's: its own
// Version needs no restart and is healthy, as it runs. Another version
// (current points at it once Recover has undone an update with no guardian)
// is started by Replace, and is not healthy here.
type Self struct {
	Version string
	// Replace has the version current points at replace the running
	// agent: a handover, or ExecCurrent before anything runs. Nil: a
	// restart into another version is an error.
	Replace func(ctx context.Context, version string) error
}

var (
	_ selfupdate.Restarter     = Self{}
	_ selfupdate.HealthChecker = Self{}
)

// Restart does nothing for the agent's own version, and calls Replace for
// another.
func (s Self) Restart(ctx context.Context, v string) error {
	if v == s.Version {
		return nil
	}
	if s.Replace == nil {
		return s.Check(ctx, v)
	}
	return s.Replace(ctx, v)
}

// Check says the agent's own version is healthy, and no other.
func (s Self) Check(ctx context.Context, v string) error {
	if v != s.Version {
		return fmt.Errorf("this agent runs %s, not %s", s.Version, v)
	}
	return nil
}

// CurrentBinary is the path of binary in the version current points at,
// checked to be an executable regular file: what ExecCurrent runs, and
// what an agent checks before it agrees to hand over.
func CurrentBinary(l selfupdate.Layout, binary string) (string, error) {
	path, err := currentPath(l, binary)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return "", err
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	return path, nil
}
