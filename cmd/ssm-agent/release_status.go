package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/release"
)

const releaseStatusSynopsis = `--manifest FILE | --to s3://bucket/prefix|DIR [--package NAME] [--json]
                          [--region REGION] [--namespace NS] [--since TIME]
                          [--halt --threshold RATIO --min-results N --key FILE
                           [--interval DURATION] [--expires-in DURATION]]

Prints each release of the package — from the manifest FILE, or the one
published at --to — with the update results its agents reported to
CloudWatch since its rollout's Start (the fleet-wide agent_update_result
metric, dimensions TargetVersion and Outcome, that agents send with
Agent.TelemetryMetricsToCloudWatch), and whether its rollout is paused.

With --halt (and --to, --key): every Active, unpaused release whose failure
ratio, failed / (succeeded + failed), is at least --threshold after at least
--min-results results is paused; the manifest is re-signed and re-published
to --to (and written to --manifest FILE when given). One pass, or with
--interval one pass every DURATION until interrupted.

Without --halt, "halt" says which releases --halt would pause. --json prints
one object per pass ("paused" lists the releases that pass paused):
  {"package": NAME, "at": TIME, "versions": [{"version": V, "status": S,
   "rollout": true|false, "paused": true|false, "since": TIME,
   "succeeded": N, "failed": N, "failureRatio": R, "halt": true|false}],
   "paused": [V, …]}

Flags:`

// statusJSON is one pass of release status --json.
type statusJSON struct {
	Package  string              `json:"package"`
	At       string              `json:"at"`
	Versions []versionStatusJSON `json:"versions"`
	Paused   []string            `json:"paused"`
}

type versionStatusJSON struct {
	Version      string          `json:"version"`
	Status       manifest.Status `json:"status"`
	Rollout      bool            `json:"rollout"`
	Paused       bool            `json:"paused"`
	Since        string          `json:"since"`
	Succeeded    int             `json:"succeeded"`
	Failed       int             `json:"failed"`
	FailureRatio float64         `json:"failureRatio"`
	Halt         bool            `json:"halt"`
}

// minStatusInterval is the shortest --interval between passes.
const minStatusInterval = time.Minute

// statusFlags are release status's flags.
type statusFlags struct {
	aws                  releaseAWS
	files                releaseFiles
	to, namespace, since string
	interval             time.Duration
	asJSON, halt         bool
	threshold            float64
	minResults           int
}

func runReleaseStatus(s streams, g *globals, args []string) int {
	const name = "release status"
	fs := newFlagSet(s, g, name, releaseStatusSynopsis)
	var f statusFlags
	f.aws.register(fs)
	fs.StringVar(&f.files.manifest, "manifest", "", "the manifest `FILE` to read (without --to), or to keep in step with what --halt publishes")
	fs.StringVar(&f.files.key, "key", "", "with --halt, the private key `FILE` that re-signs the manifest")
	fs.StringVar(&f.files.pkg, "package", "amazon-ssm-agent", "the package `NAME`")
	fs.StringVar(&f.files.expiresIn, "expires-in", "30d", "with --halt, how long agents accept the re-signed manifest: a `DURATION` over 1h, such as 720h or 30d")
	fs.StringVar(&f.to, "to", "", "read the manifest published at `s3://bucket/prefix` or DIR (and re-publish there with --halt)")
	fs.StringVar(&f.namespace, "namespace", "", "the agents' metric `NAMESPACE` (default amazon-ssm-agent-telemetry)")
	fs.StringVar(&f.since, "since", "", "count results from this RFC 3339 `TIME` (default: each rollout's Start, else 14 days ago)")
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object per pass")
	fs.BoolVar(&f.halt, "halt", false, "pause the releases that fail, re-sign and re-publish (needs --to and --key)")
	fs.Float64Var(&f.threshold, "threshold", 0.2, "with --halt, the failure `RATIO` in (0, 1] that pauses a release")
	fs.IntVar(&f.minResults, "min-results", 20, "with --halt, the results (`N`, succeeded and failed) needed before deciding")
	fs.DurationVar(&f.interval, "interval", 0, "make a pass every `DURATION` (at least 1m) until interrupted (default: one pass)")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	h, err := f.build(context.Background())
	if err != nil {
		var ue usageErr
		if errors.As(err, &ue) {
			return usageError(fs, "%v", err)
		}
		return failure(s, name, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		p, err := f.pass(ctx, h)
		if p.Versions != nil {
			printReleaseStatus(s.stdout, f.files.pkg, p, f.asJSON)
		}
		if err != nil && (f.interval == 0 || ctx.Err() == nil) {
			failure(s, name, err)
			if f.interval == 0 {
				return exitFailure
			}
		}
		if f.interval == 0 {
			return exitOK
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(f.interval):
		}
	}
}

// pass makes one pass: with --halt, h's (which pauses and re-publishes);
// without, the same look at the releases, whose Halt says what --halt
// would pause.
func (f *statusFlags) pass(ctx context.Context, h *release.Halt) (release.Pass, error) {
	if f.halt {
		return h.Once(ctx)
	}
	p := release.Pass{At: time.Now()}
	m, err := h.Load(ctx)
	if err != nil {
		return p, err
	}
	p.Versions, err = release.Status(ctx, m, h.Package, h.Results, p.At, release.StatusOptions{Since: h.Since, Rule: &h.Rule})
	return p, err
}

// usageErr is a bad command line found after parsing.
type usageErr struct{ error }

// build checks the flags and makes the Halt that status runs (its Pause
// is called only with --halt).
func (f *statusFlags) build(ctx context.Context) (*release.Halt, error) {
	var since time.Time
	switch {
	case f.files.manifest == "" && f.to == "":
		return nil, usageErr{errors.New("give --manifest FILE or --to TARGET")}
	case f.files.pkg == "":
		return nil, usageErr{errors.New("--package must not be empty")}
	case f.to != "" && checkTo(f.to) != nil:
		return nil, usageErr{checkTo(f.to)}
	case f.interval < 0 || (f.interval > 0 && f.interval < minStatusInterval):
		return nil, usageErr{fmt.Errorf("--interval %s: want at least %v (CloudWatch's results move slowly), or 0 for one pass", f.interval, minStatusInterval)}
	}
	if f.since != "" {
		t, err := time.Parse(time.RFC3339, f.since)
		if err != nil {
			return nil, usageErr{fmt.Errorf("--since %q: want an RFC 3339 time", f.since)}
		}
		since = t
	}
	rule := release.Rule{Threshold: f.threshold, MinResults: f.minResults}
	if err := rule.Check(); err != nil {
		return nil, usageErr{fmt.Errorf("--threshold/--min-results: %v", err)}
	}
	var expiresIn time.Duration
	if f.halt {
		if f.to == "" || f.files.key == "" {
			return nil, usageErr{errors.New("--halt needs --to (where to re-publish) and --key")}
		}
		d, err := parseExpiresIn(f.files.expiresIn)
		if err != nil {
			return nil, usageErr{err}
		}
		expiresIn = d
	}
	cfg, err := f.aws.config(ctx)
	if err != nil {
		return nil, err
	}
	h := &release.Halt{Package: f.files.pkg, Rule: rule, Since: since,
		Results: &release.CloudWatch{Client: cloudwatch.NewFromConfig(cfg), Namespace: f.namespace}}
	var tgt release.Target
	if f.to != "" {
		if tgt, err = f.aws.target(ctx, f.to); err != nil {
			return nil, usageErr{err}
		}
	}
	h.Load = func(ctx context.Context) (*manifest.Manifest, error) {
		if tgt == nil {
			m, err := readLocalManifest(f.files.manifest)
			if err == nil && m == nil {
				err = fmt.Errorf("--manifest %s does not exist", f.files.manifest)
			}
			return m, err
		}
		return readPublished(ctx, tgt)
	}
	h.Pause = func(ctx context.Context, m *manifest.Manifest, versions []string) error {
		return f.republish(ctx, tgt, m, expiresIn)
	}
	return h, nil
}

// republish seals m, publishes it to tgt, and then writes it to
// --manifest FILE (and FILE.sig) when given, to keep the copy in step.
func (f *statusFlags) republish(ctx context.Context, tgt release.Target, m *manifest.Manifest, expiresIn time.Duration) error {
	key, err := readPrivateKey(f.files.key)
	if err != nil {
		return err
	}
	data, sig, err := release.Seal(m, key, time.Now().Add(expiresIn))
	if err != nil {
		return err
	}
	// The key's public half tells which lines of the published .sig sign
	// the published manifest, so that they are kept while it is replaced.
	p := &release.Publisher{Target: tgt, Region: f.aws.region, PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}
	if _, err := p.Publish(ctx, data, sig); err != nil {
		return err
	}
	if f.files.manifest == "" {
		return nil
	}
	return writeSigned(f.files.manifest, data, sig)
}

// readPublished reads the manifest at a target's root.
func readPublished(ctx context.Context, tgt release.Target) (*manifest.Manifest, error) {
	rc, _, err := tgt.Open(ctx, release.DefaultManifestName)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, manifest.DefaultMaxBytes+1))
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", tgt, release.DefaultManifestName, err)
	}
	return m, nil
}

// printReleaseStatus prints one pass as a table or one JSON object.
func printReleaseStatus(w io.Writer, pkg string, p release.Pass, asJSON bool) {
	out := statusJSON{Package: pkg, At: p.At.UTC().Format(time.RFC3339), Versions: []versionStatusJSON{}, Paused: p.Paused}
	if out.Paused == nil {
		out.Paused = []string{}
	}
	for _, v := range p.Versions {
		out.Versions = append(out.Versions, versionStatusJSON{Version: v.Version, Status: v.Status, Rollout: v.Rollout != nil,
			Paused: v.Paused, Since: v.Since.UTC().Format(time.RFC3339), Succeeded: v.Succeeded, Failed: v.Failed,
			FailureRatio: v.FailureRatio(), Halt: v.Halt})
	}
	if asJSON {
		json.NewEncoder(w).Encode(out)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATUS\tROLLOUT\tPAUSED\tSUCCEEDED\tFAILED\tFAILURE RATIO\tSINCE")
	for _, v := range out.Versions {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%d\t%d\t%s\t%s\n", v.Version, v.Status, v.Rollout, v.Paused, v.Succeeded, v.Failed,
			strconv.FormatFloat(v.FailureRatio, 'f', 3, 64), v.Since)
	}
	tw.Flush()
	for _, v := range out.Paused {
		fmt.Fprintf(w, "paused %s %s: its failure ratio reached the threshold; re-signed and re-published\n", pkg, v)
	}
}
