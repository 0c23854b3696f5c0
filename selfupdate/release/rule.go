package release

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

// A Rule says when a release's rollout is halted.
type Rule struct {
	// Threshold is the failure ratio, Failed / (Succeeded + Failed), at
	// or above which the rollout is paused; in (0, 1].
	Threshold float64
	// MinResults is how many results (succeeded and failed) a release
	// needs before the rule decides; at least 1.
	MinResults int
}

// Check reports a Threshold outside (0, 1] or a MinResults below 1, naming
// the field.
func (r Rule) Check() error {
	if math.IsNaN(r.Threshold) || r.Threshold <= 0 || r.Threshold > 1 {
		return fmt.Errorf("release: Rule.Threshold %v: want a failure ratio above 0 and at most 1", r.Threshold)
	}
	if r.MinResults < 1 {
		return fmt.Errorf("release: Rule.MinResults %d: want at least 1", r.MinResults)
	}
	return nil
}

// Halts reports whether the rule pauses a release with counts c.
func (r Rule) Halts(c Counts) bool {
	return c.Total() >= r.MinResults && c.FailureRatio() >= r.Threshold
}

// A VersionStatus is where one release of a package stands.
type VersionStatus struct {
	Version string
	Status  manifest.Status
	// Rollout is the release's rollout (of its first file that has one);
	// nil when it has none.
	Rollout *manifest.Rollout
	Paused  bool
	// Since is when its results are counted from.
	Since time.Time
	Counts
	// Halt says the rule pauses it (it is Active, not paused, and its
	// failure ratio reached the threshold after enough results).
	Halt bool
}

// StatusOptions tune Status.
type StatusOptions struct {
	// Since, when not zero, is when results are counted from for every
	// release; by default, a release's Rollout.Start, or Lookback before
	// now for a release without one.
	Since time.Time
	// Lookback is how far back a release without a rollout start is
	// counted; default 14 days.
	Lookback time.Duration
	// Rule, when set, decides each VersionStatus.Halt.
	Rule *Rule
}

// Status returns the releases of package pkg in m, one per version in
// manifest order, with their results from src until now.
func Status(ctx context.Context, m *manifest.Manifest, pkg string, src ResultSource, now time.Time, o StatusOptions) ([]VersionStatus, error) {
	p, err := m.Package(pkg)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if o.Lookback <= 0 {
		o.Lookback = 14 * 24 * time.Hour
	}
	var out []VersionStatus
	index := map[string]int{}
	for _, f := range p.Files {
		for _, r := range f.Releases {
			v := r.Version.String()
			i, ok := index[v]
			if !ok {
				i = len(out)
				index[v] = i
				out = append(out, VersionStatus{Version: v, Status: r.Status})
			}
			if out[i].Rollout == nil && r.Rollout != nil {
				ro := *r.Rollout
				out[i].Rollout, out[i].Paused = &ro, ro.Paused
			}
		}
	}
	qs := make([]ResultQuery, len(out))
	for i := range out {
		s := &out[i]
		switch {
		case !o.Since.IsZero():
			s.Since = o.Since
		case s.Rollout != nil && !s.Rollout.Start.IsZero():
			s.Since = s.Rollout.Start
		default:
			s.Since = now.Add(-o.Lookback)
		}
		qs[i] = ResultQuery{Version: s.Version, Since: s.Since}
	}
	if src != nil && len(qs) > 0 {
		counts, err := src.Counts(ctx, qs, now)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].Counts = counts[i]
			out[i].Halt = o.Rule != nil && out[i].Status == manifest.StatusActive && !out[i].Paused && o.Rule.Halts(counts[i])
		}
	}
	return out, nil
}

// Halt pauses the rollouts that fail: at each pass it loads the manifest,
// counts each release's results, and when the Rule halts any, pauses them
// in the manifest and hands it to Pause to seal and publish.
type Halt struct {
	// Package is the manifest package; required.
	Package string
	// Rule decides; required.
	Rule Rule
	// Results counts the update results; required (a *CloudWatch).
	Results ResultSource
	// Load returns the manifest as published now; required.
	Load func(ctx context.Context) (*manifest.Manifest, error)
	// Pause seals and publishes m, in which the releases named by
	// versions were paused; required.
	Pause func(ctx context.Context, m *manifest.Manifest, versions []string) error
	// Since, when not zero, is when every release's results are counted
	// from; by default its Rollout.Start (see StatusOptions).
	Since time.Time
	// Interval is the time between the passes of Serve; default 5 min.
	Interval time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// OnPass, when set, is told each pass of Serve and its error.
	OnPass func(Pass, error)
}

// A Pass is one look at the releases.
type Pass struct {
	At       time.Time
	Versions []VersionStatus
	// Paused are the versions this pass paused.
	Paused []string
}

func (h *Halt) check() error {
	switch {
	case h.Package == "":
		return errors.New("release: Halt.Package is empty")
	case h.Results == nil || h.Load == nil || h.Pause == nil:
		return errors.New("release: Halt needs Results, Load and Pause")
	}
	return h.Rule.Check()
}

// Once makes one pass.
func (h *Halt) Once(ctx context.Context) (Pass, error) {
	if err := h.check(); err != nil {
		return Pass{}, err
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	pass := Pass{At: now()}
	m, err := h.Load(ctx)
	if err != nil {
		return pass, err
	}
	pass.Versions, err = Status(ctx, m, h.Package, h.Results, pass.At, StatusOptions{Rule: &h.Rule, Since: h.Since})
	if err != nil {
		return pass, err
	}
	var halt []string
	for _, s := range pass.Versions {
		if s.Halt {
			v, err := manifest.ParseVersion(s.Version)
			if err != nil {
				return pass, fmt.Errorf("release: %w", err)
			}
			if _, err := Pause(m, h.Package, v, true); err != nil {
				return pass, err
			}
			halt = append(halt, s.Version)
		}
	}
	if len(halt) == 0 {
		return pass, nil
	}
	if err := h.Pause(ctx, m, halt); err != nil {
		return pass, fmt.Errorf("release: pause %v: %w", halt, err)
	}
	pass.Paused = halt
	return pass, nil
}

// Serve makes a pass now and every Interval until ctx ends; a pass that
// fails is reported to OnPass and tried again at the next.
func (h *Halt) Serve(ctx context.Context) error {
	if err := h.check(); err != nil {
		return err
	}
	interval := h.Interval
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pass, err := h.Once(ctx)
		if h.OnPass != nil {
			h.OnPass(pass, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
