package manifest

import (
	"fmt"
	"time"
)

// An Action is what a Decision says to do.
type Action string

const (
	// ActionNone: stay on the current version.
	ActionNone Action = "none"
	// ActionUpdate: install the Decision's Target.
	ActionUpdate Action = "update"
)

// A Query asks whether a host should update, and to what.
type Query struct {
	// Package is the package name, such as amazon-ssm-agent.
	Package string
	// Platform selects the package's file.
	Platform Platform
	// Current is the version the host runs.
	Current Version
	// AllowDowngrade lets the target be older than Current. The SSM Agent
	// downgrades silently; Decide refuses unless this is set.
	AllowDowngrade bool
	// InstanceID places the agent in the waves of a target's Rollout; an
	// empty one places it in the last wave.
	InstanceID string
	// Group is the agent's configured rollout group (Rollout.Groups).
	Group string
	// At is the time to decide for; zero means time.Now().
	At time.Time
}

// A Decision is the answer to a Query.
type Decision struct {
	// Package and File name the package and the platform's file.
	Package, File string
	// Current is the manifest's release of the current version.
	Current Release
	// Target is the release to install. It is nil when there is nothing to
	// update to; when the target's Rollout has not opened for the agent (or
	// is paused), Action is ActionNone and Target names the waiting release.
	Target *Release
	// Action is ActionUpdate or ActionNone.
	Action Action
	// Reason explains the decision in one sentence.
	Reason string
	// Rollout is where the agent stands in the target's rollout; it is nil
	// when there is no target or the target has no Rollout.
	Rollout *RolloutStatus
}

// Decide applies the SSM Agent's update rule to a query: update only when
// the current version is Deprecated, to the latest Active release, and never
// to an older version unless the query allows it. When that release has a
// Rollout, the action is ActionUpdate only once the agent's wave or group
// is open and the rollout is not paused; Decision.Rollout says where the
// agent stands, and Target names the release either way.
//
// Errors wrap ErrPackageNotFound, ErrFileNotFound, or ErrVersionNotFound when
// the manifest lacks what the query names, and ErrUnknownStatus when the
// current release has a status Decide cannot act on. On a parsed manifest
// Decide costs the same whatever the number of releases.
func (m *Manifest) Decide(q Query) (Decision, error) {
	if q.Current.IsZero() {
		return Decision{}, fmt.Errorf("manifest: decide: current version: %w: empty", ErrInvalidVersion)
	}
	pkg, err := m.Package(q.Package)
	if err != nil {
		return Decision{}, err
	}
	file, err := pkg.FileFor(q.Platform)
	if err != nil {
		return Decision{}, err
	}
	cur, err := file.Release(q.Current)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Package: pkg.Name, File: file.Name, Current: cur, Action: ActionNone}
	current := "current version " + cur.Version.String()
	switch cur.Status {
	case StatusDeprecated:
	case StatusActive, StatusInactive:
		d.Reason = current + " is " + string(cur.Status) + "; only a Deprecated version is updated"
		return d, nil
	default:
		return Decision{}, fmt.Errorf("manifest: %w %q for version %s of %s", ErrUnknownStatus, string(cur.Status), cur.Version, file.Name)
	}
	target, ok := file.LatestActive()
	switch {
	case !ok:
		d.Reason = current + " is Deprecated, but " + file.Name + " has no Active release to update to"
		return d, nil
	case Compare(target.Version, cur.Version) < 0 && !q.AllowDowngrade:
		d.Reason = current + " is Deprecated, but the latest Active release " + target.Version.String() +
			" is older and downgrades are not allowed"
		return d, nil
	}
	d.Action, d.Target = ActionUpdate, &target
	d.Reason = current + " is Deprecated; " + target.Version.String() + " is the latest Active release"
	if Compare(target.Version, cur.Version) < 0 {
		d.Reason += " (a downgrade, allowed by the query)"
	}
	if target.Rollout != nil {
		if err := d.place(q, target.Rollout, file, target.Version); err != nil {
			return Decision{}, err
		}
	}
	return d, nil
}

// place applies the target's rollout to the decision.
func (d *Decision) place(q Query, r *Rollout, file *File, v Version) error {
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	if err := r.checkStart(at); err != nil {
		return fmt.Errorf("manifest: %s version %s: %w", file.Name, v, err)
	}
	s := r.Decide(q.InstanceID, q.Group, v, at)
	d.Rollout = &s
	if !s.Allowed() {
		d.Action = ActionNone
		d.Reason += ", but not yet for this agent: " + s.Reason
		return nil
	}
	d.Reason += "; rollout: " + s.Reason
	return nil
}
