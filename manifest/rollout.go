package manifest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// MaxRolloutLead is how far after the decision time a rollout's Start may
// lie: a Start further away is a mistake (a year typed wrong), not a plan.
const MaxRolloutLead = 365 * 24 * time.Hour

// maxAfterHours bounds a wave's or group's delay: ten years.
const maxAfterHours = 10 * 365 * 24

// ErrInvalidRollout is wrapped by the errors of Rollout.Check and of Decide
// for a rollout that breaks a rule.
var ErrInvalidRollout = errors.New("invalid rollout")

// A Rollout stages a release across a fleet. It is optional: a release
// without one is open to every agent at once, and agents that do not know
// the field (SSM's own, older ssmkit ones) ignore it.
//
// An agent whose configured group is listed in Groups opens at Start plus
// its group's AfterHours. Any other agent is placed by Waves: it opens at
// Start plus the AfterHours of the first wave whose Percent is above its
// Position. With Groups but no Waves, an agent outside the listed groups
// follows the last group. An agent beyond the last wave never opens: the
// rollout stops there until the plan grows.
//
// A Paused rollout is taken by no agent that has not taken it yet; clearing
// Paused continues the schedule where the clock has got to.
type Rollout struct {
	// Start is when the rollout's delays count from. It is required when
	// Waves or Groups are present.
	Start time.Time
	// Waves are the stages by share of the fleet: Percent strictly
	// increasing in (0, 100], AfterHours non-decreasing and at least 0.
	Waves []Wave
	// Groups are named stages in order (canary, staging, prod): names
	// unique, case-insensitively, and AfterHours non-decreasing.
	Groups []Group
	// Paused stops the rollout for every agent that has not taken it.
	Paused bool
}

// A Wave opens a release to the agents whose Position is below Percent,
// AfterHours after the rollout's Start.
type Wave struct {
	Percent    float64
	AfterHours float64
}

// A Group opens a release to the agents configured with its Name,
// AfterHours after the rollout's Start.
type Group struct {
	Name       string
	AfterHours float64
}

// A RolloutStatus is where one agent stands in a release's rollout at a
// given time.
type RolloutStatus struct {
	// Open reports that the agent's wave or group has opened. It says
	// nothing of Paused: an agent takes the release only when Open and not
	// Paused.
	Open bool
	// OpensAt is when the agent's wave or group opens; it is zero when
	// none ever does (the agent is beyond the last wave).
	OpensAt time.Time
	// Position is the agent's place in this release's rollout, in
	// [0, 100); see Position.
	Position float64
	// Wave is the index in Waves of the agent's wave, or -1 when a group
	// decides or no wave holds the agent.
	Wave int
	// Group is the agent's group when the rollout lists it, else "".
	Group string
	// Paused is the rollout's Paused.
	Paused bool
	// Reason explains the status in one sentence.
	Reason string
}

// Allowed reports whether the agent may take the release now: its wave or
// group is open and the rollout is not paused.
func (s *RolloutStatus) Allowed() bool { return s.Open && !s.Paused }

// Position is an agent's place in the rollout of version v: a uniform hash
// of instanceID and the version, in [0, 100) in steps of 0.01. It is the
// same for every check of one release, and independent across releases, so
// a new release reshuffles who goes first.
func Position(instanceID string, v Version) float64 {
	h := sha256.New()
	h.Write([]byte("ssmkit rollout position\x00"))
	h.Write([]byte(instanceID))
	h.Write([]byte{0})
	h.Write([]byte(v.key()))
	var sum [sha256.Size]byte
	x := binary.BigEndian.Uint64(h.Sum(sum[:0]))
	// Multiply-high maps the 64-bit hash onto [0, 10000) without bias
	// worth measuring (below 2^-50 per bucket).
	hi, _ := bits.Mul64(x, 10000)
	return float64(hi) / 100
}

// Decide places an agent, by its instance id and configured group, in the
// rollout of version v at time at. An empty instanceID places the agent in
// the last wave: without an identity it cannot be spread, so it goes last.
func (r *Rollout) Decide(instanceID, group string, v Version, at time.Time) RolloutStatus {
	s := RolloutStatus{Wave: -1, Paused: r.Paused}
	never := false
	if instanceID == "" {
		s.Position = 99.99
	} else {
		s.Position = Position(instanceID, v)
	}
	switch g, ok := r.group(group); {
	case ok:
		s.Group = r.Groups[g].Name
		s.OpensAt = r.after(r.Groups[g].AfterHours)
		s.Reason = "group " + s.Group
	case len(r.Waves) == 0 && len(r.Groups) > 0:
		last := r.Groups[len(r.Groups)-1]
		s.OpensAt = r.after(last.AfterHours)
		s.Reason = "not in a listed group, so with the last group, " + last.Name
	case len(r.Waves) == 0:
		s.OpensAt = r.Start
		s.Reason = "no waves or groups"
	default:
		s.Wave = r.wave(s.Position)
		pos := strconv.FormatFloat(s.Position, 'f', 2, 64)
		if instanceID == "" {
			pos += " (no instance id: placed last)"
		}
		if s.Wave < 0 {
			last := r.Waves[len(r.Waves)-1]
			s.Reason = "position " + pos + " is beyond the last wave (Percent " + formatFloat(last.Percent) + "); this release is not offered to it"
			never = true
			break
		}
		s.OpensAt = r.after(r.Waves[s.Wave].AfterHours)
		s.Reason = "position " + pos + " is in wave " + strconv.Itoa(s.Wave) + " (Percent " + formatFloat(r.Waves[s.Wave].Percent) + ")"
	}
	if !never {
		s.Open = !at.Before(s.OpensAt)
	}
	switch {
	case never, s.OpensAt.IsZero():
	case s.Open:
		s.Reason += ", open since " + s.OpensAt.UTC().Format(time.RFC3339)
	default:
		s.Reason += ", opens at " + s.OpensAt.UTC().Format(time.RFC3339)
	}
	if s.Paused {
		s.Reason += "; the rollout is paused"
	}
	return s
}

// group returns the index of the listed group named name, case-insensitively.
func (r *Rollout) group(name string) (int, bool) {
	if name == "" {
		return 0, false
	}
	for i := range r.Groups {
		if strings.EqualFold(r.Groups[i].Name, name) {
			return i, true
		}
	}
	return 0, false
}

// wave returns the index of the first wave whose Percent is above pos, or -1.
func (r *Rollout) wave(pos float64) int {
	for i := range r.Waves {
		if pos < r.Waves[i].Percent {
			return i
		}
	}
	return -1
}

// after returns Start plus hours, to the second.
func (r *Rollout) after(hours float64) time.Time {
	return r.Start.Add(time.Duration(math.Round(hours*3600)) * time.Second)
}

// Check validates the rollout by the rules Parse applies, and its Start
// against now: a Start more than MaxRolloutLead after now is refused. The
// error wraps ErrInvalidRollout and names the field.
func (r *Rollout) Check(now time.Time) error {
	if err := r.check(); err != nil {
		return err
	}
	return r.checkStart(now)
}

func (r *Rollout) checkStart(now time.Time) error {
	if !r.Start.IsZero() && r.Start.Sub(now) > MaxRolloutLead {
		return rolloutErrorf("Start", "%s is more than %d days after %s",
			r.Start.UTC().Format(time.RFC3339), int(MaxRolloutLead/(24*time.Hour)), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// A rolloutError is a rule broken by a field of a rollout; Parse and Decide
// prefix Field with the release's path.
type rolloutError struct {
	Field string
	Err   error
}

func (e *rolloutError) Error() string { return "Rollout." + e.Field + ": " + e.Err.Error() }
func (e *rolloutError) Unwrap() error { return e.Err }

func rolloutErrorf(field, format string, args ...any) error {
	return &rolloutError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidRollout}, args...)...)}
}

// check applies the rules that need no clock.
func (r *Rollout) check() error {
	if r.Start.IsZero() && (len(r.Waves) > 0 || len(r.Groups) > 0) {
		return rolloutErrorf("Start", "missing: waves and groups count their delays from it")
	}
	if why := checkYear(r.Start); !r.Start.IsZero() && why != "" {
		return rolloutErrorf("Start", "%s: %s", r.Start.Format(time.RFC3339), why)
	}
	for i, w := range r.Waves {
		field := "Waves[" + strconv.Itoa(i) + "]"
		switch {
		case !(w.Percent > 0 && w.Percent <= 100):
			return rolloutErrorf(field+".Percent", "%s is outside (0, 100]", formatFloat(w.Percent))
		case i > 0 && w.Percent <= r.Waves[i-1].Percent:
			return rolloutErrorf(field+".Percent", "%s does not grow past the previous wave's %s: waves must not overlap or shrink",
				formatFloat(w.Percent), formatFloat(r.Waves[i-1].Percent))
		}
		if err := checkAfter(field, w.AfterHours, r.Waves, i, func(w Wave) float64 { return w.AfterHours }); err != nil {
			return err
		}
	}
	for i, g := range r.Groups {
		field := "Groups[" + strconv.Itoa(i) + "]"
		if why := CheckGroupName(g.Name); why != nil {
			return rolloutErrorf(field+".Name", "%v", why)
		}
		if j, dup := r.group(g.Name); dup && j < i {
			return rolloutErrorf(field+".Name", "duplicate group %q (also Groups[%d])", g.Name, j)
		}
		if err := checkAfter(field, g.AfterHours, r.Groups, i, func(g Group) float64 { return g.AfterHours }); err != nil {
			return err
		}
	}
	return nil
}

// checkAfter checks the AfterHours of stage i: in range, and not before the
// previous stage's.
func checkAfter[T any](field string, h float64, stages []T, i int, after func(T) float64) error {
	switch {
	case !(h >= 0 && h <= maxAfterHours):
		return rolloutErrorf(field+".AfterHours", "%s is outside [0, %d]", formatFloat(h), maxAfterHours)
	case i > 0 && h < after(stages[i-1]):
		return rolloutErrorf(field+".AfterHours", "%s is before the previous stage's %s: stages open in order",
			formatFloat(h), formatFloat(after(stages[i-1])))
	}
	return nil
}

// CheckGroupName returns an error if name cannot name a rollout group: 1 to
// 64 letters, digits, '.', '_' or '-', starting with a letter or digit.
func CheckGroupName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("group name %q: want 1 to 64 characters", cutName(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("group name %q: want letters, digits, '.', '_' or '-', starting with a letter or digit", cutName(name))
		}
	}
	return nil
}

func cutName(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// checkYear says why t cannot be a manifest's time, or "": in UTC, as
// Marshal writes it, its year must be 1970 to 9999.
func checkYear(t time.Time) string {
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		return "its year in UTC is " + strconv.Itoa(y) + ", outside 1970 to 9999"
	}
	return ""
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
