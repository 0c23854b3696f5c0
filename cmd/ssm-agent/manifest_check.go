package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

const manifestCheckSynopsis = `--manifest PATH [--version V] [--package NAME] [--platform NAME]
                             [--arch ARCH] [--region REGION] [--allow-downgrade]
                             [--instance-id ID] [--group NAME] [--at TIME] [--json]

Reads an SSM agent manifest and decides whether version V of the package
should be updated on the platform: only a Deprecated version is, to the
latest Active release, and never to an older one unless --allow-downgrade.
When that release has a Rollout, the update is due only once the agent's
wave (placed by --instance-id) or group (--group) has opened at --at, and
the rollout is not paused.
Exit status 0 when a decision was made (update or none), 1 when the manifest
is invalid or lacks the file or version, 2 for a usage error.

Flags:`

// checkResult is the --json output of manifest check.
type checkResult struct {
	Package string          `json:"package"`
	File    string          `json:"file"`
	Current checkRelease    `json:"current"`
	Target  *checkTarget    `json:"target"`
	Action  manifest.Action `json:"action"`
	Reason  string          `json:"reason"`
	Rollout *rolloutJSON    `json:"rollout,omitempty"`
}

// rolloutJSON is where an agent stands in a release's rollout, as manifest
// check --json and update --check --json print it.
type rolloutJSON struct {
	Open     bool    `json:"open"`
	OpensAt  string  `json:"opensAt,omitempty"`
	Position float64 `json:"position"`
	Wave     int     `json:"wave"`
	Group    string  `json:"group"`
	Paused   bool    `json:"paused"`
	Reason   string  `json:"reason"`
}

func newRolloutJSON(s *manifest.RolloutStatus) *rolloutJSON {
	if s == nil {
		return nil
	}
	r := &rolloutJSON{Open: s.Open, Position: s.Position, Wave: s.Wave, Group: s.Group, Paused: s.Paused, Reason: s.Reason}
	if !s.OpensAt.IsZero() {
		r.OpensAt = s.OpensAt.UTC().Format(time.RFC3339)
	}
	return r
}

type checkRelease struct {
	Version string          `json:"version"`
	Status  manifest.Status `json:"status"`
}

type checkTarget struct {
	Version  string          `json:"version"`
	Status   manifest.Status `json:"status"`
	Checksum string          `json:"checksum"`
	URL      string          `json:"url"`
}

func runManifestCheck(s streams, g *globals, args []string) int {
	const name = "manifest check"
	fs := newFlagSet(s, g, name, manifestCheckSynopsis)
	var (
		path      = fs.String("manifest", "", "the manifest `PATH` to read (- for standard input); required")
		current   = fs.String("version", version, "the current `V`ersion")
		pkg       = fs.String("package", "amazon-ssm-agent", "the package `NAME`")
		platform  = fs.String("platform", "", "the platform `NAME`: linux, ubuntu, darwin, windows (default: this host's)")
		arch      = fs.String("arch", runtime.GOARCH, "the `ARCH`itecture, in GOARCH spelling")
		region    = fs.String("region", "us-east-1", "the AWS `REGION` of the download URL")
		downgrade = fs.Bool("allow-downgrade", false, "update to the latest Active release even when it is older")
		asJSON    = fs.Bool("json", false, "print the decision as one JSON object")
		instance  = fs.String("instance-id", "", "the agent's instance `ID`, which places it in a rollout's waves (default: none, placed last)")
		group     = fs.String("group", "", "the agent's rollout group `NAME` (SelfUpdate.Group)")
		at        = fs.String("at", "", "the `TIME` to decide for, RFC 3339 (default: now)")
	)
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	if *path == "" {
		return usageError(fs, "--manifest is required")
	}
	v, err := manifest.ParseVersion(*current)
	if err != nil {
		return usageError(fs, "--version: %v", err)
	}
	if err := manifest.CheckRegion(*region); err != nil {
		return usageError(fs, "--region: %v", err)
	}
	if *pkg == "" || *arch == "" {
		return usageError(fs, "--package and --arch must not be empty")
	}
	when, err := decisionTime(*at, *group)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	p := manifest.Platform{Name: *platform, Arch: *arch}
	if p.Name == "" {
		detected, err := manifest.DetectPlatform("")
		if err != nil {
			return failure(s, name, fmt.Errorf("%w (pass --platform)", err))
		}
		p.Name = detected.Name
	}

	m, err := readManifest(s, *path)
	if err != nil {
		return failure(s, name, err)
	}
	d, err := m.Decide(manifest.Query{Package: *pkg, Platform: p, Current: v, AllowDowngrade: *downgrade,
		InstanceID: *instance, Group: *group, At: when})
	if err != nil {
		return failure(s, name, fmt.Errorf("%s: %w", *path, err))
	}
	res, err := checkResultOf(m, d, *region)
	if err != nil {
		return failure(s, name, fmt.Errorf("%s: %w", *path, err))
	}
	if *asJSON {
		if err := json.NewEncoder(s.stdout).Encode(res); err != nil {
			return failure(s, name, err)
		}
		return exitOK
	}
	printCheck(s.stdout, res)
	return exitOK
}

// decisionTime checks manifest check's --at and --group and returns the
// time to decide for.
func decisionTime(at, group string) (time.Time, error) {
	if group != "" {
		if err := manifest.CheckGroupName(group); err != nil {
			return time.Time{}, fmt.Errorf("--group: %w", err)
		}
	}
	if at == "" {
		return time.Now(), nil
	}
	when, err := time.Parse(time.RFC3339, at)
	if err != nil || when.UTC().Year() < 1970 || when.UTC().Year() > 9999 {
		return time.Time{}, fmt.Errorf("--at %q: want an RFC 3339 time of the years 1970 to 9999, such as 2027-01-31T02:00:00Z", at)
	}
	return when, nil
}

// checkResultOf is the --json object of a decision.
func checkResultOf(m *manifest.Manifest, d manifest.Decision, region string) (checkResult, error) {
	res := checkResult{
		Package: d.Package,
		File:    d.File,
		Current: checkRelease{d.Current.Version.String(), d.Current.Status},
		Action:  d.Action,
		Reason:  d.Reason,
		Rollout: newRolloutJSON(d.Rollout),
	}
	if d.Target != nil {
		url, err := m.URL(region, d.Package, d.File, d.Target.Version)
		if err != nil {
			return res, err
		}
		res.Target = &checkTarget{d.Target.Version.String(), d.Target.Status, d.Target.Checksum, url}
	}
	return res, nil
}

// readManifest parses the manifest at path, or standard input for "-";
// errors name the path.
func readManifest(s streams, path string) (*manifest.Manifest, error) {
	r := s.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	m, err := manifest.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func printCheck(w io.Writer, r checkResult) {
	switch {
	case r.Target != nil && r.Action == manifest.ActionNone:
		fmt.Fprintf(w, "%s: no update yet: %s (%s), %s (%s) waits for its rollout\n", r.File, r.Current.Version, r.Current.Status, r.Target.Version, r.Target.Status)
	case r.Target == nil:
		fmt.Fprintf(w, "%s: no update: %s (%s)\n", r.File, r.Current.Version, r.Current.Status)
	default:
		fmt.Fprintf(w, "%s: update %s (%s) -> %s (%s)\n", r.File, r.Current.Version, r.Current.Status, r.Target.Version, r.Target.Status)
	}
	fmt.Fprintf(w, "  %s\n", r.Reason)
	if r.Target != nil {
		fmt.Fprintf(w, "  url:    %s\n  sha256: %s\n", r.Target.URL, r.Target.Checksum)
	}
}
