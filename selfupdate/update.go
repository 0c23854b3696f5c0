package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/internal/procid"
	"github.com/ssmkit/ssmkit/manifest"
)

// ErrGuardianActive is returned by Recover while a live guardian is
// finishing an update (one it has just launched included).
var ErrGuardianActive = errors.New("a guardian is finishing the update")

// ErrNotRunning is wrapped by a HealthChecker's error when the version it
// checks cannot become healthy any more — its process is gone: the gate
// then stops waiting for the deadline and rolls back at once.
var ErrNotRunning = errors.New("the version is not running")

// Update checks the manifest and, when it says the running version is
// deprecated, updates: download and verify the target, unpack it safely,
// stage it, switch current to it, restart into it and wait for it to be
// healthy — then commit, or switch back, restart the old version and
// report. Every step is journalled first, so Recover can finish or undo it
// after a crash. It returns the zero Result when there is nothing to do.
//
// Update is the operator's: it does not wait for Config.Window (Serve's
// scheduled updates do), but it never takes a release whose rollout has
// not opened for this agent or is paused — the manifest decides that.
func (u *Updater) Update(ctx context.Context) (Result, error) {
	r, _, err := u.update(ctx, anyTime)
	return r, err
}

// When an update may be installed.
type updateTime int

const (
	anyTime      updateTime = iota // Update: the operator's override of the window
	inWindowOnly                   // Serve: only when Plan.Allowed
)

// update is Update; inWindowOnly installs only what the plan allows now.
// It returns the plan when the manifest was read.
func (u *Updater) update(ctx context.Context, when updateTime) (Result, *Plan, error) {
	src := Result{Source: u.cfg.Current.String()}
	if u.cfg.Restarter == nil || u.cfg.Health == nil {
		return src, nil, errors.New("selfupdate: Update needs Config.Restarter and Config.Health")
	}
	if err := u.ensureDirs(); err != nil {
		return u.failEarly(src, FailureInitialization, err)
	}
	lk, err := acquireLock(u.lockPath())
	if err != nil {
		return u.failEarly(src, FailureLockBusy, err)
	}
	defer lk.release()
	if j, err := readJournal(u.journalPath()); err != nil || !j.Phase.finished() {
		if _, err := u.recover(ctx, j, err); err != nil {
			return src, nil, err
		}
	}
	if err := u.adopt(); err != nil {
		return u.failEarly(src, FailureInitialization, err)
	}
	plan, err := u.check(ctx, true)
	if err != nil {
		code := FailureDownloadManifest
		if errors.Is(err, manifest.ErrVersionNotFound) {
			code = FailureVersionNotFound
		}
		return u.failEarly(src, code, err)
	}
	d := plan.Decision
	if d.Action != manifest.ActionUpdate || (when == inWindowOnly && !plan.Allowed()) {
		return Result{}, plan, nil
	}
	prev, _ := readJournal(u.journalPath())
	j := Journal{Source: u.cfg.Current.String(), Target: d.Target.Version.String(), File: d.File, URL: plan.URL, Checksum: d.Target.Checksum}
	if prev.Target == j.Target {
		j.Attempts = prev.Attempts
	}
	j.Attempts++
	r, err := u.install(ctx, j)
	return r, plan, err
}

// install runs an update from the download to the switch, then the gate.
func (u *Updater) install(ctx context.Context, j Journal) (Result, error) {
	r := Result{Source: j.Source, Target: j.Target}
	abort := func(code Failure, err error) (Result, error) {
		j.Phase, j.Error = PhaseAborted, err.Error()
		j.Result = resultCode(stateFailed, "", code, j.Target)
		os.RemoveAll(u.stagingDir(j.Target))
		if werr := writeJournal(u.journalPath(), j); werr != nil {
			err = errors.Join(err, werr)
		}
		return u.fail(r, "", code, err)
	}
	if err := u.advance(&j, phaseDownloading); err != nil {
		return u.fail(r, "", FailureInitialization, err)
	}
	pkg := filepath.Join(u.cfg.StateDir, "downloads", j.Target+"-"+j.File)
	dctx, cancel := context.WithTimeout(ctx, u.cfg.DownloadTimeout)
	headers, err := u.downloadPackage(dctx, j.URL, pkg, j.Checksum)
	cancel()
	if err != nil {
		return abort(FailurePackageDownload, err)
	}
	step("downloaded")
	step("verified") // the download checks the SHA-256 as it goes
	if err := u.advance(&j, phaseUnpacking); err != nil {
		return abort(FailureInstall, err)
	}
	staging := u.stagingDir(j.Target)
	os.RemoveAll(staging)
	if err := u.layout.makeVersionsDir(); err != nil {
		os.Remove(pkg)
		return abort(FailureInstall, fmt.Errorf("selfupdate: %w", err))
	}
	x, err := extract(pkg, staging, unpackLimits{maxEntries: u.cfg.MaxEntries, maxBytes: u.cfg.MaxUnpackedBytes, headers: headers})
	// The package is not needed any more, whatever the outcome; deleted
	// before the sync, its pages need not be written at all.
	os.Remove(pkg)
	if err != nil {
		return abort(FailureInstall, err)
	}
	if err := x.sync(); err != nil {
		return abort(FailureInstall, err)
	}
	step("unpacked")
	if err := u.advance(&j, phaseStaging); err != nil {
		return abort(FailureInstall, err)
	}
	if err := u.layout.commitStaging(staging, completion{Version: j.Target, Checksum: j.Checksum, Installed: u.cfg.Now()}); err != nil {
		return abort(FailureInstall, err)
	}
	step("staged")
	if err := u.advance(&j, phaseSwitching); err != nil {
		return abort(FailureInstall, err)
	}
	if err := u.layout.Switch(j.Target); err != nil {
		return u.rollback(ctx, j, err)
	}
	step("switched")
	if u.cfg.Launcher != nil {
		if err := u.launchGuardian(ctx, &j); err != nil {
			return u.rollback(ctx, j, err)
		}
		return r, nil // the guardian reports the result
	}
	return u.gate(ctx, j)
}

// adopt installs Config.Adopt as the running version; the caller holds the
// lock, and no update is under way.
func (u *Updater) adopt() error {
	if u.cfg.Adopt == nil {
		return nil
	}
	v := u.cfg.Current.String()
	if err := u.layout.Complete(v); err != nil {
		if err := u.layout.Install(v, u.cfg.Adopt); err != nil {
			return fmt.Errorf("selfupdate: installing the running version %s: %w", v, err)
		}
	}
	if _, err := u.layout.Current(); err != nil {
		return u.layout.Switch(v)
	}
	return nil
}

// launchGuardian starts a guardian and journals who it is, so that no
// second one is launched while it lives. The caller holds the lock, which
// the guardian takes once the caller lets it go.
func (u *Updater) launchGuardian(ctx context.Context, j *Journal) error {
	sourceDir := ""
	if j.Source != "" && u.layout.Complete(j.Source) == nil {
		sourceDir = u.layout.VersionDir(j.Source)
	}
	pid, err := u.cfg.Launcher.Launch(ctx, sourceDir)
	if err != nil {
		return fmt.Errorf("selfupdate: launch guardian: %w", err)
	}
	g := procid.Of(pid)
	j.guardian = &g
	step("launched")
	return writeJournal(u.journalPath(), *j)
}

func (u *Updater) stagingDir(version string) string {
	return filepath.Join(u.cfg.InstallDir, "versions", "."+version+".staging")
}

// advance journals the phase about to be entered.
func (u *Updater) advance(j *Journal, p Phase) error {
	j.Phase = p
	return writeJournal(u.journalPath(), *j)
}

// guardianLockWait bounds a guardian's wait for the lock, which the
// process that launched it holds until it has journalled the launch.
const guardianLockWait = 30 * time.Second

// RunGuardian is what a guardian process runs: the health gate of the
// update the journal describes — restart into the new version, wait for it
// to be healthy, commit or roll back. A guardian launched after another one
// died takes over where that one stopped: a gate keeps the deadline it
// had, and a rollback under way is finished.
func (u *Updater) RunGuardian(ctx context.Context) (Result, error) {
	if u.cfg.Restarter == nil || u.cfg.Health == nil {
		return Result{}, errors.New("selfupdate: RunGuardian needs Config.Restarter and Config.Health")
	}
	lk, err := u.waitLock(ctx, guardianLockWait)
	if err != nil {
		return Result{}, err
	}
	defer lk.release()
	j, err := readJournal(u.journalPath())
	if err != nil {
		return Result{}, err
	}
	if !j.Phase.switched() && j.Phase != phaseRollingBack {
		return Result{}, fmt.Errorf("selfupdate: guardian: no update to finish: the journal is in phase %q", j.Phase)
	}
	self := procid.Of(os.Getpid())
	j.guardian = &self
	if j.Phase == phaseRollingBack {
		return u.rollback(ctx, j, errors.New(j.Error))
	}
	return u.gate(ctx, j)
}

// waitLock takes the lock, waiting up to wait for its holder to let go.
func (u *Updater) waitLock(ctx context.Context, wait time.Duration) (*fileLock, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(wait)
	for {
		lk, err := acquireLock(u.lockPath())
		if err == nil || !errors.Is(err, ErrLockBusy) || time.Now().After(deadline) {
			return lk, err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// gate restarts into the target and commits it once healthy, or rolls back.
func (u *Updater) gate(ctx context.Context, j Journal) (Result, error) {
	if j.Phase == phaseSwitching || j.Deadline.IsZero() {
		j.Deadline = u.cfg.Now().Add(u.cfg.HealthTimeout)
	}
	if err := u.advance(&j, phaseRestarting); err != nil {
		return u.rollback(ctx, j, err)
	}
	rctx, cancel := context.WithDeadline(ctx, j.Deadline)
	err := u.cfg.Restarter.Restart(rctx, j.Target)
	cancel()
	step("restarted")
	if err == nil {
		if err = u.advance(&j, phaseChecking); err == nil {
			err = u.waitHealthy(ctx, j.Target, j.Deadline)
		}
	}
	step("checked")
	if err != nil {
		return u.rollback(ctx, j, err)
	}
	j.Phase, j.Error = PhaseCommitted, ""
	j.Result = resultCode(stateSucceeded, "", "", j.Target)
	if err := writeJournal(u.journalPath(), j); err != nil {
		return u.rollback(ctx, j, err)
	}
	step("committed")
	u.layout.prune(j.Source, j.Target)
	sweepExcept(filepath.Join(u.cfg.StateDir, "downloads"))
	r := Result{Code: j.Result, Source: j.Source, Target: j.Target}
	u.report(r)
	return r, nil
}

// waitHealthy asks the health checker until it says yes, says the version
// is not running (ErrNotRunning), or deadline passes. A deadline already
// past (a gate taken over late) still allows a last check.
func (u *Updater) waitHealthy(ctx context.Context, version string, deadline time.Time) error {
	if last := u.cfg.Now().Add(2 * u.cfg.HealthInterval); deadline.Before(last) {
		deadline = last
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		err := u.cfg.Health.Check(ctx, version)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrNotRunning) {
			return fmt.Errorf("selfupdate: version %s: %w", version, err)
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
	j.Phase, j.Error = phaseRollingBack, cause.Error()
	if err := writeJournal(u.journalPath(), j); err != nil {
		cause = errors.Join(cause, err)
	}
	if cur, err := u.layout.Current(); err != nil || cur != j.Source {
		if err := u.layout.Switch(j.Source); err != nil {
			return u.fail(r, "InstallRollback", FailureCannotStartService, errors.Join(cause, err))
		}
	}
	step("rolling-back")
	code := FailureInstall
	err := u.cfg.Restarter.Restart(ctx, j.Source)
	if err == nil {
		err = u.waitHealthy(ctx, j.Source, u.cfg.Now().Add(u.cfg.HealthTimeout))
	}
	if err != nil {
		code = FailureCannotStartService
		cause = errors.Join(cause, fmt.Errorf("selfupdate: rollback to %s: %w", j.Source, err))
	}
	j.Phase = PhaseRolledBack
	j.Result = resultCode(stateFailed, "InstallRollback", code, j.Target)
	if err := writeJournal(u.journalPath(), j); err != nil {
		cause = errors.Join(cause, err)
	}
	u.layout.prune(j.Source)
	r.Code, r.Err, r.Failure, r.RolledBack = j.Result, cause, code, true
	u.report(r)
	return r, cause
}

// Recover finishes or undoes an update that a crash interrupted, so that
// current points at a complete version — the old or the new — and the
// journal says which. Call it at start-up, and every few seconds while
// running: an update stopped before the switch is aborted (the old version
// never stopped); one that has ended has its result told to OnResult if
// no process has (a guardian's Updater has no OnResult: the agent's
// Recover tells it); one after the switch but not yet proven healthy is left
// to its guardian while one lives (ErrGuardianActive), given a new
// guardian when it has died and a Launcher is configured (ErrGuardianActive
// too), and else rolled back here. With the journal finished it only checks
// current, writing nothing; while another process holds the update lock it
// returns ErrLockBusy.
func (u *Updater) Recover(ctx context.Context) (Result, error) {
	if u.cfg.Restarter == nil || u.cfg.Health == nil {
		return Result{}, errors.New("selfupdate: Recover needs Config.Restarter and Config.Health")
	}
	if j, err := readJournal(u.journalPath()); err == nil && j.Phase.finished() {
		u.reportJournal(j)
		return Result{}, u.ensureCurrent()
	}
	lk, err := acquireLock(u.lockPath())
	if err != nil {
		return Result{}, err
	}
	defer lk.release()
	j, err := readJournal(u.journalPath())
	return u.recover(ctx, j, err)
}

// recover is Recover with the lock held.
func (u *Updater) recover(ctx context.Context, j Journal, err error) (Result, error) {
	if err != nil { // an unreadable journal: make sure current is sound
		return Result{}, u.ensureCurrent()
	}
	if j.Phase.finished() {
		u.tellJournal(j)
		return Result{}, u.ensureCurrent()
	}
	if j.Phase.switched() || j.Phase == phaseRollingBack {
		if j.guardian != nil && j.guardian.PID != os.Getpid() && j.guardian.Running() {
			return Result{}, fmt.Errorf("selfupdate: %w", ErrGuardianActive)
		}
	}
	if j.Phase == phaseSwitching {
		if cur, err := u.layout.Current(); err != nil || cur != j.Target {
			j.Phase = phaseStaging // the switch never happened
		}
	}
	if j.Phase.switched() || j.Phase == phaseRollingBack {
		if u.cfg.Launcher != nil {
			if err := u.launchGuardian(ctx, &j); err == nil {
				return Result{}, fmt.Errorf("selfupdate: %w", ErrGuardianActive)
			}
		}
		return u.rollback(ctx, j, errors.New("selfupdate: interrupted before the new version proved healthy"))
	}
	// Before the switch: the old version still runs.
	j.Phase, j.Error = PhaseAborted, "interrupted"
	j.Result = resultCode(stateFailed, "", FailureInstall, j.Target)
	os.RemoveAll(u.stagingDir(j.Target))
	if err := writeJournal(u.journalPath(), j); err != nil {
		return Result{}, err
	}
	r := Result{Code: j.Result, Failure: FailureInstall, Source: j.Source, Target: j.Target, Err: errors.New("selfupdate: interrupted before the switch")}
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
	return u.layout.Complete(v)
}

// failEarly is fail for update before it has a plan.
func (u *Updater) failEarly(r Result, code Failure, err error) (Result, *Plan, error) {
	r, err = u.fail(r, "", code, err)
	return r, nil, err
}

// fail reports a failed attempt and returns it.
func (u *Updater) fail(r Result, sub string, code Failure, err error) (Result, error) {
	r.Code, r.Err = resultCode(stateFailed, sub, code, r.Target), err
	r.Failure, r.RolledBack = code, sub != ""
	u.report(r)
	return r, err
}

// report tells OnResult of a result. A result the journal holds is told
// once, whichever process reaches it first — the updater, a guardian, or
// the Serve of the next core (reportJournal) — its key kept in the state
// directory; every caller holds the update lock.
func (u *Updater) report(r Result) {
	if u.cfg.OnResult == nil || r.Code == "" {
		return
	}
	key := ""
	if j, err := readJournal(u.journalPath()); err == nil && j.Phase.finished() && j.Result == r.Code && j.Target == r.Target {
		key = resultKey(j)
		if u.reported(key) {
			return
		}
	}
	u.cfg.OnResult(r)
	if key != "" {
		u.reportMu.Lock()
		u.lastReported = key
		u.reportMu.Unlock()
		atomicfile.WriteFile(u.reportedPath(), []byte(key), 0o600) // lost: told again by a next process, never not at all
	}
}

// resultKey names a finished update's result.
func resultKey(j Journal) string { return j.Result + "@" + j.Updated.UTC().Format(time.RFC3339Nano) }

func (u *Updater) reportedPath() string { return filepath.Join(u.cfg.StateDir, "result.reported") }

// reported says whether the result key was told already.
func (u *Updater) reported(key string) bool {
	u.reportMu.Lock()
	last := u.lastReported
	u.reportMu.Unlock()
	if key == last {
		return true
	}
	b, err := atomicfile.ReadFile(u.reportedPath())
	return err == nil && string(b) == key
}

// reportJournal tells OnResult of the result of j, the journal just read,
// if no process has: a guardian that ended an update with no core to
// tell, say. (Recover runs every second in an idle core: it reads the
// journal once, and again only under the lock.)
func (u *Updater) reportJournal(j Journal) {
	if !j.Phase.finished() || j.Result == "" || u.reported(resultKey(j)) {
		return
	}
	lk, err := acquireLock(u.lockPath())
	if err != nil {
		return // the holder reports it, or the next round does
	}
	defer lk.release()
	if j, err = readJournal(u.journalPath()); err == nil {
		u.tellJournal(j)
	}
}

// tellJournal tells OnResult of a finished journal's result, with the
// update lock held, unless it was told.
func (u *Updater) tellJournal(j Journal) {
	if !j.Phase.finished() || j.Result == "" {
		return
	}
	r := Result{Code: j.Result, Source: j.Source, Target: j.Target}
	if j.Phase != PhaseCommitted {
		r.Failure, r.RolledBack = failureOf(j.Result), j.Phase == PhaseRolledBack
		if j.Error != "" {
			r.Err = errors.New(j.Error)
		}
	}
	u.report(r)
}

// failureOf reads the Failure back from a result string.
func failureOf(code string) Failure {
	for _, f := range []Failure{FailureLockBusy, FailureInitialization, FailureDownloadManifest, FailureVersionNotFound,
		FailurePackageDownload, FailureInstall, FailureCannotStartService} {
		if strings.Contains(code, "_"+string(f)) {
			return f
		}
	}
	return FailureInstall
}

// A Schedule says when Serve checks for updates.
type Schedule struct {
	// Days between checks, like SelfUpdateScheduleDay: 1 to 7; 0 means
	// DefaultScheduleDays.
	Days int
	// JitterMin and JitterMax bound the random delay of the first check
	// and the random time added to every later one; 0 means
	// DefaultJitterMin and DefaultJitterMax, like the SSM Agent.
	JitterMin, JitterMax time.Duration
}

// Defaults of Schedule.
const (
	DefaultScheduleDays = 7
	DefaultJitterMin    = 30 * time.Minute
	DefaultJitterMax    = 12*time.Hour + 30*time.Minute
)

// ErrServing is returned by a second Serve while one runs.
var ErrServing = errors.New("Serve is already running")

// Serve keeps the agent updated until ctx ends, then returns ctx's error:
// it recovers an interrupted update, checks for updates on
// Config.Schedule, and every HealthInterval makes sure an unproven update
// has a live guardian (Recover). It installs an update only when the
// manifest's rollout has opened for this agent and is not paused, and
// Config.Window is open; an update due but not yet allowed is checked
// again at its Plan.NextAllowed plus a random delay spread over the
// window's opening (or the schedule's JitterMax without a window), not a
// whole period later. A failed attempt waits for the next check; it is not
// retried in a loop. Every outcome goes to OnResult and every
// other error to OnError. It needs Config.Restarter, Health and
// ManifestURL.
func (u *Updater) Serve(ctx context.Context) error {
	switch {
	case u.cfg.Restarter == nil || u.cfg.Health == nil:
		return errors.New("selfupdate: Serve needs Config.Restarter and Config.Health")
	case u.cfg.ManifestURL == "":
		return errors.New("selfupdate: Serve needs Config.ManifestURL")
	}
	if !u.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("selfupdate: %w", ErrServing)
	}
	defer u.serving.Store(false)
	s := u.cfg.Schedule
	u.recoverQuietly(ctx) // and tells a result no process has told
	next := time.NewTimer(s.jitter(u.rand))
	defer next.Stop()
	guard := time.NewTicker(u.cfg.HealthInterval)
	defer guard.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-guard.C:
			u.recoverQuietly(ctx)
		case <-next.C:
			_, plan, err := u.update(ctx, inWindowOnly)
			if err != nil && !errors.Is(err, ErrGuardianActive) {
				u.reportError(err) // results went to OnResult; this is for the log
			}
			now := u.cfg.Now()
			wait := nextCheck(s, plan, now, u.rand)
			next.Reset(wait)
			if u.cfg.OnCheck != nil {
				u.cfg.OnCheck(plan, now.Add(wait))
			}
		}
	}
}

// recoverQuietly runs Recover, telling OnError what is not the normal
// course of an update (a guardian at work, the lock held by one).
func (u *Updater) recoverQuietly(ctx context.Context) {
	if _, err := u.Recover(ctx); err != nil && !errors.Is(err, ErrGuardianActive) && !errors.Is(err, ErrLockBusy) && ctx.Err() == nil {
		u.reportError(err)
	}
}

func (u *Updater) reportError(err error) {
	if u.cfg.OnError != nil {
		u.cfg.OnError(err)
	}
}
