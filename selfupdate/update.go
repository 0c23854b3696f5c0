package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/internal/procid"
	"github.com/ssmkit/ssmkit/manifest"
)

// ErrGuardianActive is returned by Recover while a live guardian is still
// finishing an update.
var ErrGuardianActive = errors.New("selfupdate: a guardian is finishing the update")

// Update checks the manifest and, when it says the running version is
// deprecated, updates: download and verify the target, unpack it safely,
// stage it, switch current to it, restart into it and wait for it to be
// healthy — then commit, or switch back, restart the old version and
// report. Every step is journalled first, so Recover can finish or undo it
// after a crash. It returns the zero Result when there is nothing to do.
func (u *Updater) Update(ctx context.Context) (Result, error) {
	if u.cfg.Restarter == nil || u.cfg.Health == nil {
		return Result{}, errors.New("selfupdate: Update needs Config.Restarter and Config.Health")
	}
	release, err := acquireLock(u.lockPath())
	if err != nil {
		return u.fail(Result{Source: u.cfg.Current.String()}, "", ErrorUpdaterLockBusy, err)
	}
	defer release()
	if j, err := readJournal(u.journalPath()); err != nil || !j.Phase.finished() {
		if _, err := u.recover(ctx, j, err); err != nil {
			return Result{Source: u.cfg.Current.String()}, err
		}
	}
	plan, err := u.Check(ctx)
	if err != nil {
		code := ErrorDownloadManifest
		if errors.Is(err, manifest.ErrVersionNotFound) {
			code = ErrorVersionNotFoundInManifest
		}
		return u.fail(Result{Source: u.cfg.Current.String()}, "", code, err)
	}
	d := plan.Decision
	if d.Action != manifest.ActionUpdate {
		return Result{}, nil
	}
	prev, _ := readJournal(u.journalPath())
	j := Journal{Source: u.cfg.Current.String(), Target: d.Target.Version.String(), File: d.File, URL: plan.URL, Checksum: d.Target.Checksum}
	if prev.Target == j.Target {
		j.Attempts = prev.Attempts
	}
	j.Attempts++
	return u.install(ctx, j)
}

// install runs an update from the download to the switch, then the gate.
func (u *Updater) install(ctx context.Context, j Journal) (Result, error) {
	r := Result{Source: j.Source, Target: j.Target}
	abort := func(code string, err error) (Result, error) {
		j.Phase, j.Error = PhaseAborted, err.Error()
		j.Result = resultCode(StateFailed, "", code, j.Target)
		os.RemoveAll(u.stagingDir(j.Target))
		if werr := writeJournal(u.journalPath(), j); werr != nil {
			err = errors.Join(err, werr)
		}
		return u.fail(r, "", code, err)
	}
	if err := u.advance(&j, PhaseDownloading); err != nil {
		return u.fail(r, "", ErrorInitializationFailed, err)
	}
	pkg := filepath.Join(u.cfg.StateDir, "downloads", j.Target+"-"+j.File)
	dctx, cancel := context.WithTimeout(ctx, u.cfg.DownloadTimeout)
	err := u.downloadPackage(dctx, j.URL, pkg, j.Checksum)
	cancel()
	if err != nil {
		return abort(ErrorTargetPkgDownload, err)
	}
	step("downloaded")
	step("verified") // the download checks the SHA-256 as it goes
	if err := u.advance(&j, PhaseUnpacking); err != nil {
		return abort(ErrorInstallFailed, err)
	}
	staging := u.stagingDir(j.Target)
	os.RemoveAll(staging)
	x, err := extract(pkg, staging, unpackLimits{maxEntries: u.cfg.MaxEntries, maxBytes: u.cfg.MaxUnpackedBytes})
	if err != nil {
		return abort(ErrorInstallFailed, err)
	}
	// The package is not needed any more; deleted before the sync, its
	// pages need not be written at all.
	os.Remove(pkg)
	if err := x.sync(); err != nil {
		return abort(ErrorInstallFailed, err)
	}
	step("unpacked")
	if err := u.advance(&j, PhaseStaging); err != nil {
		return abort(ErrorInstallFailed, err)
	}
	if err := u.layout.commitStaging(staging, Completion{Version: j.Target, Checksum: j.Checksum, Installed: u.cfg.Now()}); err != nil {
		return abort(ErrorInstallFailed, err)
	}
	step("staged")
	if err := u.advance(&j, PhaseSwitching); err != nil {
		return abort(ErrorInstallFailed, err)
	}
	if err := u.layout.Switch(j.Target); err != nil {
		return u.rollback(ctx, j, err)
	}
	step("switched")
	if u.cfg.Launcher != nil {
		if err := u.cfg.Launcher.Launch(ctx); err != nil {
			return u.rollback(ctx, j, fmt.Errorf("selfupdate: launch guardian: %w", err))
		}
		return r, nil // the guardian reports the result
	}
	return u.gate(ctx, j)
}

func (u *Updater) stagingDir(version string) string {
	return filepath.Join(u.cfg.InstallDir, "versions", "."+version+".staging")
}

// advance journals the phase about to be entered.
func (u *Updater) advance(j *Journal, p Phase) error {
	j.Phase = p
	return writeJournal(u.journalPath(), *j)
}

// RunGuardian is what a guardian process runs: the health gate of the
// update the journal describes — restart into the new version, wait for it
// to be healthy, commit or roll back.
func (u *Updater) RunGuardian(ctx context.Context) (Result, error) {
	// The updater that launched this holds the lock until it returns.
	var release func()
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if release, err = acquireLock(u.lockPath()); err == nil || !errors.Is(err, ErrLockBusy) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	if err != nil {
		return Result{}, err
	}
	defer release()
	j, err := readJournal(u.journalPath())
	if err != nil {
		return Result{}, err
	}
	if j.Phase != PhaseSwitching {
		return Result{}, fmt.Errorf("selfupdate: guardian: the journal is in phase %q, not %q", j.Phase, PhaseSwitching)
	}
	self := procid.Self()
	j.Guardian = &self
	return u.gate(ctx, j)
}

// gate restarts into the target and commits it once healthy, or rolls back.
func (u *Updater) gate(ctx context.Context, j Journal) (Result, error) {
	j.Deadline = u.cfg.Now().Add(u.cfg.HealthTimeout)
	if err := u.advance(&j, PhaseRestarting); err != nil {
		return u.rollback(ctx, j, err)
	}
	err := u.cfg.Restarter.Restart(ctx, j.Target)
	step("restarted")
	if err == nil {
		if err = u.advance(&j, PhaseChecking); err == nil {
			err = u.waitHealthy(ctx, j.Target, j.Deadline)
		}
	}
	step("checked")
	if err != nil {
		return u.rollback(ctx, j, err)
	}
	j.Phase, j.Error = PhaseCommitted, ""
	j.Result = resultCode(StateSucceeded, "", "", j.Target)
	if err := writeJournal(u.journalPath(), j); err != nil {
		return u.rollback(ctx, j, err)
	}
	step("committed")
	u.layout.prune(j.Source, j.Target)
	os.RemoveAll(filepath.Join(u.cfg.StateDir, "downloads"))
	os.MkdirAll(filepath.Join(u.cfg.StateDir, "downloads"), 0o700)
	r := Result{Code: j.Result, Source: j.Source, Target: j.Target}
	u.report(r)
	return r, nil
}

// waitHealthy asks the health checker until it says yes or deadline passes.
func (u *Updater) waitHealthy(ctx context.Context, version string, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		err := u.cfg.Health.Check(ctx, version)
		if err == nil {
			return nil
		}
		t := time.NewTimer(u.cfg.HealthInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("selfupdate: version %s not healthy by %s: %w", version, deadline.Format(time.RFC3339), err)
		}
	}
}

// rollback switches back to the source version, restarts it and checks
// it. The host is never left without a complete version: current is
// switched only to versions that are complete.
func (u *Updater) rollback(ctx context.Context, j Journal, cause error) (Result, error) {
	r := Result{Source: j.Source, Target: j.Target}
	j.Phase, j.Error = PhaseRollingBack, cause.Error()
	if err := writeJournal(u.journalPath(), j); err != nil {
		cause = errors.Join(cause, err)
	}
	if cur, err := u.layout.Current(); err != nil || cur != j.Source {
		if err := u.layout.Switch(j.Source); err != nil {
			return u.fail(r, "InstallRollback", ErrorCannotStartService, errors.Join(cause, err))
		}
	}
	step("rolling-back")
	code := ErrorInstallFailed
	err := u.cfg.Restarter.Restart(ctx, j.Source)
	if err == nil {
		err = u.waitHealthy(ctx, j.Source, u.cfg.Now().Add(u.cfg.HealthTimeout))
	}
	if err != nil {
		code = ErrorCannotStartService
		cause = errors.Join(cause, fmt.Errorf("selfupdate: rollback to %s: %w", j.Source, err))
	}
	j.Phase = PhaseRolledBack
	j.Result = resultCode(StateFailed, "InstallRollback", code, j.Target)
	if err := writeJournal(u.journalPath(), j); err != nil {
		cause = errors.Join(cause, err)
	}
	u.layout.prune(j.Source)
	r.Code, r.Err = j.Result, cause
	u.report(r)
	return r, cause
}

// Recover finishes or undoes an update that a crash interrupted, so that
// current points at a complete version — the old or the new — and the
// journal says which. Call it at start-up. An update stopped before the
// switch is aborted (the old version never stopped); one stopped after the
// switch but before it was proven healthy is rolled back, unless a live
// guardian is still at it (ErrGuardianActive).
func (u *Updater) Recover(ctx context.Context) (Result, error) {
	if u.cfg.Restarter == nil || u.cfg.Health == nil {
		return Result{}, errors.New("selfupdate: Recover needs Config.Restarter and Config.Health")
	}
	release, err := acquireLock(u.lockPath())
	if err != nil {
		return Result{}, err
	}
	defer release()
	j, err := readJournal(u.journalPath())
	return u.recover(ctx, j, err)
}

func (u *Updater) recover(ctx context.Context, j Journal, err error) (Result, error) {
	if err != nil { // an unreadable journal: make sure current is sound
		return Result{}, u.ensureCurrent()
	}
	if j.Phase.finished() {
		return Result{}, u.ensureCurrent()
	}
	if j.Guardian != nil && j.Guardian.Running() && j.Guardian.PID != os.Getpid() {
		return Result{}, ErrGuardianActive
	}
	if j.Phase.switched() || j.Phase == PhaseRollingBack {
		return u.rollback(ctx, j, errors.New("selfupdate: interrupted before the new version proved healthy"))
	}
	// Before the switch: the old version still runs.
	j.Phase, j.Error = PhaseAborted, "interrupted"
	j.Result = resultCode(StateFailed, "", ErrorInstallFailed, j.Target)
	os.RemoveAll(u.stagingDir(j.Target))
	if err := writeJournal(u.journalPath(), j); err != nil {
		return Result{}, err
	}
	r := Result{Code: j.Result, Source: j.Source, Target: j.Target, Err: errors.New("selfupdate: interrupted before the switch")}
	u.report(r)
	return r, u.ensureCurrent()
}

// ensureCurrent checks that current points at a complete version.
func (u *Updater) ensureCurrent() error {
	v, err := u.layout.Current()
	if err != nil {
		if os.IsNotExist(errors.Unwrap(err)) {
			return nil // not installed through a layout: nothing to check
		}
		return err
	}
	_, err = u.layout.Complete(v)
	return err
}

// fail reports a failed attempt and returns it.
func (u *Updater) fail(r Result, sub, code string, err error) (Result, error) {
	r.Code, r.Err = resultCode(StateFailed, sub, code, r.Target), err
	u.report(r)
	return r, err
}

func (u *Updater) report(r Result) {
	if u.cfg.OnResult != nil && r.Code != "" {
		u.cfg.OnResult(r)
	}
}

// A Schedule says when Serve checks for updates.
type Schedule struct {
	// Days between checks, like SelfUpdateScheduleDay: 1 to 7, default 7.
	Days int
	// JitterMin and JitterMax bound the random delay of the first check
	// and the random time added to every later one; defaults 30 min and
	// 12.5 h, like the SSM Agent.
	JitterMin, JitterMax time.Duration
}

// Serve recovers an interrupted update, then checks for updates on the
// schedule until ctx ends. A failed attempt waits for the next check; it
// is not retried in a loop.
func (u *Updater) Serve(ctx context.Context, s Schedule) error {
	if s.Days < 1 || s.Days > 7 {
		s.Days = 7
	}
	setDefault(&s.JitterMin, 30*time.Minute)
	setDefault(&s.JitterMax, 12*time.Hour+30*time.Minute)
	s.JitterMax = max(s.JitterMax, s.JitterMin)
	jitter := func() time.Duration { return s.JitterMin + rand.N(s.JitterMax-s.JitterMin+1) }
	u.Recover(ctx)
	t := time.NewTimer(jitter())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			u.Update(ctx)
			t.Reset(time.Duration(s.Days)*24*time.Hour + jitter())
		}
	}
}
