package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssmkit/ssmkit/internal/urlguard"
	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/selfupdate/handover"
	selfupdates3 "github.com/ssmkit/ssmkit/selfupdate/s3"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// Self-update in the reference agent. The core's updater downloads,
// verifies, stages and switches; then it launches a guardian — this very
// binary, the old version, as `ssm-agent update guardian`, detached — which
// hands the core over to the new version (the workers keep running and are
// adopted), waits for it to be healthy, and commits or rolls back. Once a
// version is healthy the guardian has the core restart its workers on it.

// healthInterval is how often the guardian asks the new core's status: a
// core that died is seen within it, and the old version started again.
const healthInterval = 100 * time.Millisecond

// binaryName is the agent's executable in a version directory.
func binaryName() string {
	if runtime.GOOS == "windows" {
		return "ssm-agent.exe"
	}
	return "ssm-agent"
}

// updateConfig is the selfupdate configuration the core and the guardian
// share; it has no manifest URL, Restarter or Health yet.
func updateConfig(g *globals, cfg Config) (selfupdate.Config, error) {
	cur, err := manifest.ParseVersion(version)
	if err != nil {
		return selfupdate.Config{}, fmt.Errorf("this build's version: %w", err)
	}
	keys, err := publicKeys(cfg.SelfUpdate.PublicKeys)
	if err != nil {
		return selfupdate.Config{}, err
	}
	return selfupdate.Config{
		Package:        cfg.SelfUpdate.PackageName,
		Current:        cur,
		AllowDowngrade: cfg.SelfUpdate.AllowDowngrade,
		PublicKeys:     keys,
		InstallDir:     g.installDir,
		StateDir:       filepath.Join(g.dataDir, "update"),
		HealthTimeout:  time.Duration(orDefault(cfg.SelfUpdate.HealthTimeoutSeconds, 180)) * time.Second,
		HealthInterval: healthInterval,
		FreeSpace: selfupdate.SpaceRule{UnpackFactor: cfg.SelfUpdate.FreeSpaceFactor,
			Margin: int64(cfg.SelfUpdate.FreeSpaceMarginMiB) << 20},
	}, nil
}

// caPool reads SelfUpdate.CACertificates (PEM text or file paths) into a
// pool with the system's CAs; nil when there are none.
func caPool(entries []string) (*x509.CertPool, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	var pems [][]byte
	err := eachPEM("SelfUpdate.CACertificates", entries, func(data []byte) error {
		_, err := urlguard.CertPool(data)
		pems = append(pems, data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return urlguard.CertPool(pems...)
}

// eachPEM hands f each entry of a list of PEM text or file paths, read;
// errors name the key and the entry.
func eachPEM(key string, entries []string, f func([]byte) error) error {
	for i, e := range entries {
		data := []byte(e)
		if !strings.HasPrefix(strings.TrimSpace(e), "-----BEGIN") {
			b, err := os.ReadFile(e)
			if err != nil {
				return fmt.Errorf("%s[%d]: %w", key, i, err)
			}
			data = b
		}
		if err := f(data); err != nil {
			return fmt.Errorf("%s[%d]: %w", key, i, err)
		}
	}
	return nil
}

// updateSources returns the sources of updates: https (and loopback http)
// and file, trusting SelfUpdate.CACertificates besides the system's CAs,
// and s3 when awsCfg is given.
func updateSources(su SelfUpdateConfig, awsCfg *aws.Config) (selfupdate.Sources, error) {
	pool, err := caPool(su.CACertificates)
	if err != nil {
		return nil, err
	}
	src := selfupdate.NewSources(pool)
	if awsCfg != nil {
		var opts []func(*s3.Options)
		if pool != nil {
			opts = append(opts, selfupdates3.WithRootCAs(pool))
		}
		src["s3"] = selfupdates3.New(*awsCfg, opts...)
	}
	return src, nil
}

// publicKeys reads SelfUpdate.PublicKeys: each is PEM text or a file path.
func publicKeys(entries []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	err := eachPEM("SelfUpdate.PublicKeys", entries, func(data []byte) error {
		k, err := signing.ParsePublicKey(data)
		keys = append(keys, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// newUpdater makes the core's updater for recovery and status: no manifest
// is needed to finish or undo an update.
func (c *core) newUpdater() (*selfupdate.Updater, error) {
	cfg, err := updateConfig(c.g, c.cfg)
	if err != nil {
		return nil, err
	}
	cfg.Restarter, cfg.Health = c.selfGate(), c.selfGate()
	cfg.OnResult = c.onResult
	cfg.Launcher = c.guardianLauncher()
	cfg.HealthInterval = guardInterval
	return selfupdate.New(cfg)
}

// guardianLauncher launches a guardian: the binary of the journal's
// source version (the one known to work) when the layout has it, else
// this one, its output appended to guardian.log.
func (c *core) guardianLauncher() *selfupdate.DetachedCommand {
	args := append(globalArgs(c.g), "update", "guardian")
	if c.managed {
		args = append(args, "--service-manager", "systemd")
	}
	return &selfupdate.DetachedCommand{Path: c.self, Args: args, Binary: binaryName(), LogPath: filepath.Join(c.g.logDir, "guardian.log")}
}

// recoverUpdate finishes or undoes an interrupted update (Recover), or
// sees that a guardian is at it.
func (c *core) recoverUpdate(ctx context.Context) {
	_, err := c.updater.Recover(ctx)
	if err != nil && !errors.Is(err, selfupdate.ErrGuardianActive) && !errors.Is(err, selfupdate.ErrLockBusy) && ctx.Err() == nil {
		c.log.Warn("recovering the last update", "err", err)
	}
}

// guardInterval is how often a running core makes sure that an unproven
// update has a live guardian, and tells results a guardian could not tell
// it (Recover does both).
const guardInterval = time.Second

// guardUpdates runs the scheduled self-update (when Agent.SelfUpdate is
// on) and, whatever the schedule, keeps an update under way guarded: a
// guardian that dies is replaced, so that killing it at any moment still
// ends with a core on a complete version and the result recorded.
func (c *core) guardUpdates(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.cfg.Agent.SelfUpdate {
			c.serveUpdates(ctx)
		}
	}()
	t := time.NewTicker(guardInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
			if !c.serving.Load() {
				c.recoverUpdate(ctx)
			}
		}
	}
}

// fullUpdater makes the updater that updates: with the manifest URL (the
// region's SSM manifest unless SelfUpdate.ManifestURL says otherwise), its
// sources, and the guardian. Resolving the region may ask the metadata
// service; it is called only when an update is wanted.
func (c *core) fullUpdater(ctx context.Context, manifestURL string) (*selfupdate.Updater, error) {
	cfg, err := updateConfig(c.g, c.cfg)
	if err != nil {
		return nil, err
	}
	cfg.ManifestURL = cmp.Or(manifestURL, c.cfg.SelfUpdate.ManifestURL)
	cfg.Region = c.cfg.Agent.Region
	u, _ := url.Parse(cfg.ManifestURL)
	needAWS := cfg.ManifestURL == "" || (u != nil && u.Scheme == "s3")
	var awsCfg *aws.Config
	if needAWS || strings.Contains(cfg.ManifestURL, "{Region}") {
		ac, err := c.awsConfig(ctx, "self-update")
		if err != nil {
			return nil, err
		}
		cfg.Region, awsCfg = ac.Region, &ac
	}
	if cfg.Source, err = updateSources(c.cfg.SelfUpdate, awsCfg); err != nil {
		return nil, err
	}
	if cfg.ManifestURL == "" {
		if cfg.ManifestURL, err = manifest.ManifestURL(cfg.Region, c.cfg.Agent.ServiceDomain); err != nil {
			return nil, err
		}
	}
	cfg.ManifestURL = strings.ReplaceAll(cfg.ManifestURL, "{Region}", cfg.Region)
	cfg.Restarter, cfg.Health = c.selfGate(), c.selfGate()
	cfg.OnResult = c.onResult
	// The guardian is the source version's binary, which the update keeps.
	cfg.Launcher = c.guardianLauncher()
	cfg.Schedule = selfupdate.Schedule{Days: c.cfg.Agent.SelfUpdateScheduleDay}
	if err := c.rolloutConfig(ctx, &cfg); err != nil {
		return nil, err
	}
	cfg.OnCheck = c.onCheck
	cfg.HealthInterval = guardInterval // the core's own checks; the guardian's are faster
	cfg.OnError = func(err error) { c.log.Warn("self-update", "err", err) }
	// The running binary is adopted into the layout before the first
	// update, under the update's lock and only with no update under way.
	cfg.Adopt = map[string]string{binaryName(): c.self}
	return selfupdate.New(cfg)
}

// globalArgs are the global flags that make another ssm-agent process use
// this one's configuration and directories.
func globalArgs(g *globals) []string {
	args := []string{"--data-dir", g.dataDir, "--log-dir", g.logDir, "--install-dir", g.installDir}
	if g.config != "" {
		args = append(args, "--config", g.config)
	}
	return args
}

// selfGate is the Restarter and HealthChecker of the core's updaters,
// for what Recover undoes itself (when no guardian can be launched): the
// running version needs no restart and is healthy; another one replaces
// this process (current already points at it) and recovers again.
func (c *core) selfGate() handover.Self { return handover.Self{Version: version, Replace: c.replace} }

// replace has the version current points at replace this core: at once
// before the workers start, else through the handover, which leaves the
// workers running.
func (c *core) replace(ctx context.Context, v string) error {
	if c.running.Load() {
		c.log.Warn("an interrupted update is undone: handing over to the version current points at", "version", v)
		c.handingOver.Store(true)
		c.stop()
		return nil
	}
	l := selfupdate.Layout{Dir: c.g.installDir}
	path, err := handover.CurrentBinary(l, binaryName())
	if err != nil {
		return err
	}
	c.log.Warn("an interrupted update is undone: running the version current points at", "version", v, "path", path)
	return handover.ExecCurrent(l, binaryName(), os.Args, c.env)
}

// onResult records an update result: the updater tells each once,
// whichever process (a guardian, the core, a next core) reaches it first.
func (c *core) onResult(r selfupdate.Result) {
	if r.Err != nil {
		c.log.Warn("update failed", "result", r.Code, "err", r.Err)
	}
	c.record(telemetry.Event{Type: ssm.TypeUpdateResult, Name: r.Code, AgentVersion: r.Source,
		Attributes: map[string]string{ssm.AttrSourceVersion: r.Source, ssm.AttrTargetVersion: r.Target}})
	c.log.Info("update result", "result", r.Code)
}

// updateStatus is the update part of the core's status.
func (c *core) updateStatus() UpdateStatus {
	st := UpdateStatus{Enabled: c.cfg.Agent.SelfUpdate, State: "idle"}
	if c.updater == nil {
		st.State = "unavailable"
		return st
	}
	j, err := c.updater.Journal()
	if err != nil {
		st.LastError = err.Error()
		return st
	}
	if !j.Finished() {
		st.State = "updating"
	}
	st.Phase, st.Source, st.Target, st.LastResult, st.LastError, st.Updated = string(j.Phase), j.Source, j.Target, j.Result, j.Error, j.Updated
	c.checkStatus(&st)
	return st
}

// updateNow checks the manifest at once and updates if it says so.
func (c *core) updateNow(ctx context.Context, manifestURL string) UpdateReply {
	c.updateMu.Lock()
	defer c.updateMu.Unlock()
	// An update under way — its guardian gating it — is not started again
	// nor counted as a failed attempt.
	if c.updater == nil {
		return UpdateReply{Action: "failed", Source: version, Error: "self-update is unavailable (see the core's log)"}
	}
	if j, err := c.updater.Journal(); err == nil && !j.Finished() {
		return UpdateReply{Action: "in-progress", Source: j.Source, Target: j.Target, Guardian: true}
	}
	u, err := c.fullUpdater(ctx, manifestURL)
	if err != nil {
		return UpdateReply{Action: "failed", Source: version, Error: err.Error()}
	}
	// The dry run gives the reason when there is nothing to do; the update
	// itself decides again, so a manifest that changed (or a server that
	// failed once) between the two is taken as the update finds it.
	var reason string
	if plan, err := u.Check(ctx); err == nil && plan.Decision.Action != manifest.ActionUpdate {
		reason = plan.Decision.Reason
	}
	r, err := u.Update(ctx)
	reply := UpdateReply{Result: r.Code, Source: version, Target: r.Target, Error: errorText(err)}
	switch {
	case err != nil:
		reply.Action = "failed"
	case r.Code == "" && r.Target != "":
		reply.Action, reply.Guardian = "in-progress", true
	case r.Code == "":
		reply.Action, reply.Reason = "none", cmp.Or(reason, "the manifest offers no update for this version")
	default:
		reply.Action = "updated"
	}
	return reply
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// serveUpdates runs the scheduled self-update until ctx ends.
func (c *core) serveUpdates(ctx context.Context) {
	u, err := c.fullUpdater(ctx, "")
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.log.Warn("self-update is off: " + err.Error())
		}
		return
	}
	c.serving.Store(true) // Serve guards unproven updates itself
	defer c.serving.Store(false)
	if err := u.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn("scheduled self-update stopped", "err", err)
	}
}
