package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

const updateSynopsis = `--check | --now [--manifest-url URL] [flags]

--now asks the running core to check the manifest at once and, if it marks
the running version deprecated, to update; it waits for the outcome
(--wait) and prints it.

--check says what an update would do now: it fetches the manifest (by
default SelfUpdate.ManifestURL, else the region's SSM manifest), verifies
it (and its signature, with SelfUpdate.PublicKeys or --public-key), and
decides as the updater would, changing nothing: with a release's rollout
(where this agent stands, by its instance id and SelfUpdate.Group) and
SelfUpdate.MaintenanceWindow, it says when the update may next happen.

Flags:`

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runUpdate(s streams, g *globals, args []string) int {
	const name = "update"
	fs := newFlagSet(s, g, name, updateSynopsis)
	check := fs.Bool("check", false, "say what an update would do, and do nothing")
	now := fs.Bool("now", false, "ask the running core to update now if its version is deprecated")
	wait := fs.Duration("wait", 10*time.Minute, "with --now, how long to wait for the outcome (0: do not wait)")
	manifestURL := fs.String("manifest-url", "", "the manifest `URL` (default: SelfUpdate.ManifestURL, else the region's SSM manifest)")
	region := fs.String("region", "", "with --check, the AWS `REGION` (default: Agent.Region, else us-east-1)")
	current := fs.String("version", version, "with --check, the current `V`ersion")
	platform := fs.String("platform", "", "with --check, the platform `NAME` (default: this host's)")
	arch := fs.String("arch", runtime.GOARCH, "with --check, the `ARCH`itecture")
	downgrade := fs.Bool("allow-downgrade", false, "with --check, allow an update to an older version")
	instanceID := fs.String("instance-id", "", "with --check, the instance `ID` that places the agent in a rollout (default: the agent's identity)")
	group := fs.String("group", "", "with --check, the rollout `GROUP` (default: SelfUpdate.Group)")
	asJSON := fs.Bool("json", false, "print the outcome as one JSON object")
	var keys multiFlag
	fs.Var(&keys, "public-key", "with --check, a manifest signing public key `PATH` (repeatable); makes a signature required")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	switch {
	case *check && *now:
		return usageError(fs, "--check and --now exclude each other")
	case *now:
		return updateNow(s, g, *manifestURL, *wait, *asJSON)
	case !*check:
		return usageError(fs, "--check or --now is required")
	}
	return updateCheck(s, g, fs, checkFlags{*manifestURL, *region, *current, *platform, *arch, *instanceID, *group, *downgrade, *asJSON, keys})
}

// checkFlags are update --check's flags.
type checkFlags struct {
	manifestURL, region, current, platform, arch string
	instanceID, group                            string
	downgrade, asJSON                            bool
	keys                                         []string
}

// updateCheck says what an update would do now, writing nothing.
func updateCheck(s streams, g *globals, fs *flag.FlagSet, f checkFlags) int {
	const name = "update"
	cfg, _, err := loadConfig(g.config)
	if err != nil {
		return failure(s, name, err)
	}
	v, err := manifest.ParseVersion(f.current)
	if err != nil {
		return usageError(fs, "--version: %v", err)
	}
	if f.region == "" {
		f.region = cmp.Or(cfg.Agent.Region, "us-east-1")
	}
	if err := manifest.CheckRegion(f.region); err != nil {
		return usageError(fs, "--region: %v", err)
	}
	if f.manifestURL == "" {
		f.manifestURL = cfg.SelfUpdate.ManifestURL
	}
	if f.manifestURL == "" {
		if f.manifestURL, err = manifest.ManifestURL(f.region, cfg.Agent.ServiceDomain); err != nil {
			return usageError(fs, "%v", err)
		}
	}
	pubs, err := checkKeys(cfg.SelfUpdate.PublicKeys, f.keys)
	if err != nil {
		return failure(s, name, err)
	}
	p := manifest.Platform{Name: f.platform, Arch: f.arch}
	if p.Name == "" {
		detected, err := manifest.DetectPlatform("")
		if err != nil {
			return failure(s, name, fmt.Errorf("%w (pass --platform)", err))
		}
		p.Name = detected.Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := sources(ctx, cfg.SelfUpdate, f.manifestURL, f.region)
	if err != nil {
		return failure(s, name, err)
	}
	ucfg := selfupdate.Config{
		ManifestURL: f.manifestURL, Source: src, Platform: p, Region: f.region, Current: v,
		Package: cfg.SelfUpdate.PackageName, AllowDowngrade: f.downgrade || cfg.SelfUpdate.AllowDowngrade, PublicKeys: pubs,
		InstallDir: g.installDir, StateDir: filepath.Join(g.dataDir, "update"),
	}
	if f.group != "" {
		if err := manifest.CheckGroupName(f.group); err != nil {
			return usageError(fs, "--group: %v", err)
		}
	}
	if f.instanceID != "" {
		cfg.Identity, cfg.Telemetry.InstanceId = IdentityConfig{}, f.instanceID
	}
	cfg.SelfUpdate.Group = cmp.Or(f.group, cfg.SelfUpdate.Group)
	if err := (&core{g: g, cfg: cfg}).rolloutConfig(ctx, &ucfg); err != nil {
		return failure(s, name, err)
	}
	u, err := selfupdate.New(ucfg)
	if err != nil {
		return failure(s, name, err)
	}
	plan, err := u.Check(ctx)
	if err != nil {
		return failure(s, name, err)
	}
	printPlan(s.stdout, plan, ucfg.Window, f.asJSON)
	return exitOK
}

// checkKeys reads SelfUpdate.PublicKeys and the --public-key files.
func checkKeys(configured, paths []string) ([]ed25519.PublicKey, error) {
	pubs, err := publicKeys(configured)
	if err != nil {
		return nil, err
	}
	flagged, err := readPublicKeys(paths)
	if err != nil {
		return nil, err
	}
	pubs = append(pubs, flagged...)
	return pubs, nil
}

// printPlan prints what update --check found.
func printPlan(w io.Writer, plan *selfupdate.Plan, window *selfupdate.Window, asJSON bool) {
	d := plan.Decision
	res := checkResult{Package: d.Package, File: d.File, Current: checkRelease{d.Current.Version.String(), d.Current.Status}, Action: d.Action, Reason: d.Reason,
		Rollout: newRolloutJSON(plan.Rollout)}
	if d.Target != nil {
		res.Target = &checkTarget{d.Target.Version.String(), d.Target.Status, d.Target.Checksum, plan.URL}
	}
	when := whenOf(plan, window, time.Now())
	if asJSON {
		out := struct {
			ManifestURL string `json:"manifest_url"`
			checkResult
			updateWhen
		}{plan.ManifestURL, res, when}
		json.NewEncoder(w).Encode(out)
		return
	}
	fmt.Fprintf(w, "manifest: %s\n", plan.ManifestURL)
	printCheck(w, res)
	printWhen(w, when, window)
}

// UpdateRequest is the body of POST /update.
type UpdateRequest struct {
	ManifestURL string `json:"manifestURL,omitempty"`
}

// updateNow asks the core to update now, and waits for the outcome.
func updateNow(s streams, g *globals, manifestURL string, wait time.Duration, asJSON bool) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute+wait)
	defer cancel()
	asked := time.Now()
	var reply UpdateReply
	if err := callCore(ctx, g.dataDir, "POST", "/update", UpdateRequest{ManifestURL: manifestURL}, &reply); err != nil {
		return failure(s, "update", err)
	}
	if reply.Action == "in-progress" && wait > 0 {
		if !asJSON {
			fmt.Fprintf(s.stdout, "updating %s to %s; waiting for the new version to prove healthy\n", reply.Source, reply.Target)
		}
		st, err := waitForUpdate(ctx, g.dataDir, asked, wait)
		if err != nil {
			return failure(s, "update", fmt.Errorf("updating to %s: %w (see 'ssm-agent status')", reply.Target, err))
		}
		reply.Result, reply.Error = st.Update.LastResult, st.Update.LastError
		reply.Action = "failed"
		if st.Update.Phase == string(selfupdate.PhaseCommitted) {
			reply.Action = "updated"
		}
	}
	if asJSON {
		json.NewEncoder(s.stdout).Encode(reply)
	} else {
		printUpdateReply(s.stdout, reply)
	}
	if reply.Action == "failed" {
		return exitFailure
	}
	return exitOK
}

// waitForUpdate asks the core's status until the update begun after asked
// has ended; the core may be between versions meanwhile.
func waitForUpdate(ctx context.Context, dataDir string, asked time.Time, wait time.Duration) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		var st Status
		err := callCore(ctx, dataDir, "GET", "/status", nil, &st)
		if err == nil && st.Update.State == "idle" && !st.Update.Updated.Before(asked) {
			return st, nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return Status{}, fmt.Errorf("no outcome within %s: %w", wait, lastErr)
			}
			return Status{}, fmt.Errorf("no outcome within %s", wait)
		case <-tick.C:
		}
	}
}

func printUpdateReply(w io.Writer, r UpdateReply) {
	switch r.Action {
	case "none":
		fmt.Fprintf(w, "no update: %s\n", r.Reason)
	case "updated":
		fmt.Fprintf(w, "updated %s to %s: %s\n", r.Source, r.Target, r.Result)
	case "in-progress":
		fmt.Fprintf(w, "updating %s to %s; 'ssm-agent status' tells the outcome\n", r.Source, r.Target)
	default:
		fmt.Fprintf(w, "update failed: %s\n", cmp.Or(r.Result, "-"))
		if r.Error != "" {
			fmt.Fprintf(w, "  %s\n", r.Error)
		}
	}
}

// sources returns the built-in sources, with S3 added for an s3:// URL
// (which loads the AWS configuration from the environment).
func sources(ctx context.Context, su SelfUpdateConfig, rawURL, region string) (selfupdate.Sources, error) {
	var awsCfg *aws.Config
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "s3" {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return nil, err
		}
		awsCfg = &cfg
	}
	return updateSources(su, awsCfg)
}
