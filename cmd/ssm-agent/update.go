package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	selfupdates3 "github.com/ssmkit/ssmkit/selfupdate/s3"
)

const updateSynopsis = `--check [--manifest-url URL] [--region REGION] [--version V] [--platform NAME]
                       [--arch ARCH] [--public-key PATH] [--allow-downgrade] [--data-dir DIR] [--json]

Says what a self-update would do now: fetches the manifest (by default the
SSM manifest of the region), verifies it (and its signature with
--public-key), and decides as the updater would, changing nothing.

Flags:`

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runUpdate(s streams, args []string) int {
	const name = "update"
	fs := newFlagSet(s, name, updateSynopsis)
	check := fs.Bool("check", false, "say what an update would do, and do nothing")
	manifestURL := fs.String("manifest-url", "", "the manifest `URL` (default: the region's SSM manifest)")
	region := fs.String("region", "us-east-1", "the AWS `REGION`")
	current := fs.String("version", version, "the current `V`ersion")
	platform := fs.String("platform", "", "the platform `NAME` (default: this host's)")
	arch := fs.String("arch", runtime.GOARCH, "the `ARCH`itecture")
	dataDir := fs.String("data-dir", defaultDataDir(), "the agent's data `DIR`ectory (update state lives in DIR/update)")
	downgrade := fs.Bool("allow-downgrade", false, "allow an update to an older version")
	asJSON := fs.Bool("json", false, "print the plan as one JSON object")
	var keys multiFlag
	fs.Var(&keys, "public-key", "a manifest signing public key `PATH` (repeatable); makes a signature required")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	if !*check {
		return usageError(fs, "--check is required")
	}
	v, err := manifest.ParseVersion(*current)
	if err != nil {
		return usageError(fs, "--version: %v", err)
	}
	if err := manifest.CheckRegion(*region); err != nil {
		return usageError(fs, "--region: %v", err)
	}
	if *manifestURL == "" {
		if *manifestURL, err = manifest.ManifestURL(*region, ""); err != nil {
			return usageError(fs, "%v", err)
		}
	}
	var pubs []ed25519.PublicKey
	for _, k := range keys {
		b, err := os.ReadFile(k)
		if err == nil {
			var pub ed25519.PublicKey
			if pub, err = selfupdate.ParsePublicKey(b); err == nil {
				pubs = append(pubs, pub)
				continue
			}
		}
		return failure(s, name, fmt.Errorf("--public-key %s: %w", k, err))
	}
	p := manifest.Platform{Name: *platform, Arch: *arch}
	if p.Name == "" {
		detected, err := manifest.DetectPlatform("")
		if err != nil {
			return failure(s, name, fmt.Errorf("%w (pass --platform)", err))
		}
		p.Name = detected.Name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := sources(ctx, *manifestURL, *region)
	if err != nil {
		return failure(s, name, err)
	}
	u, err := selfupdate.New(selfupdate.Config{
		ManifestURL: *manifestURL, Source: src, Platform: p, Region: *region, Current: v,
		AllowDowngrade: *downgrade, PublicKeys: pubs,
		InstallDir: defaultInstallDir(), StateDir: filepath.Join(*dataDir, "update"),
	})
	if err != nil {
		return failure(s, name, err)
	}
	plan, err := u.Check(ctx)
	if err != nil {
		return failure(s, name, err)
	}
	d := plan.Decision
	res := checkResult{Package: d.Package, File: d.File, Current: checkRelease{d.Current.Version.String(), d.Current.Status}, Action: d.Action, Reason: d.Reason}
	if d.Target != nil {
		res.Target = &checkTarget{d.Target.Version.String(), d.Target.Status, d.Target.Checksum, plan.URL}
	}
	if *asJSON {
		out := struct {
			ManifestURL string `json:"manifest_url"`
			checkResult
		}{plan.ManifestURL, res}
		json.NewEncoder(s.stdout).Encode(out)
		return exitOK
	}
	fmt.Fprintf(s.stdout, "manifest: %s\n", plan.ManifestURL)
	printCheck(s.stdout, res)
	return exitOK
}

// sources returns the built-in sources, with S3 added for an s3:// URL
// (which loads the AWS configuration from the environment).
func sources(ctx context.Context, rawURL, region string) (selfupdate.Sources, error) {
	src := selfupdate.DefaultSources()
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "s3" {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return nil, err
		}
		src["s3"] = selfupdates3.New(cfg)
	}
	return src, nil
}
