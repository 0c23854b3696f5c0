package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// What `update --check` says of a release's rollout and the maintenance
// window: where the agent stands, and when its update may next happen.

// rolloutJSON is a rollout status as `manifest check --json` prints it.
type rolloutJSON struct {
	Open     bool      `json:"open"`
	OpensAt  time.Time `json:"opensAt,omitzero"`
	Position float64   `json:"position"`
	Wave     int       `json:"wave"`
	Group    string    `json:"group"`
	Paused   bool      `json:"paused"`
	Reason   string    `json:"reason"`
}

func rolloutOf(r *manifest.RolloutStatus) *rolloutJSON {
	if r == nil {
		return nil
	}
	return &rolloutJSON{r.Open, r.OpensAt.UTC(), r.Position, r.Wave, r.Group, r.Paused, r.Reason}
}

// updateWhen is what `update --check` adds to the decision: "rollout" (as
// manifest check has it; absent when the target has none), "nextAllowed"
// (when the update may happen — now's time when it may happen now; absent
// when it may not happen as the manifest stands: no update, a paused
// rollout, a wave that never opens) and "allowed" (whether it may now).
type updateWhen struct {
	Rollout     *rolloutJSON `json:"rollout,omitempty"`
	NextAllowed time.Time    `json:"nextAllowed,omitzero"`
	Allowed     bool         `json:"allowed"`
	Window      string       `json:"maintenanceWindow,omitempty"`
}

// whenOf says when plan's update may happen, decided at now.
func whenOf(plan *selfupdate.Plan, w *selfupdate.Window, now time.Time) updateWhen {
	res := updateWhen{Rollout: rolloutOf(plan.Rollout), Allowed: plan.Allowed(), Window: describeWindow(w)}
	switch {
	case res.Allowed:
		res.NextAllowed = now.UTC().Truncate(time.Second)
	case !plan.NextAllowed.IsZero():
		res.NextAllowed = plan.NextAllowed.UTC()
	}
	return res
}

// printWhen prints the rollout and the next allowed time under the plan.
func printWhen(out io.Writer, wh updateWhen, w *selfupdate.Window) {
	if r := wh.Rollout; r != nil {
		place := fmt.Sprintf("position %.2f", r.Position)
		switch {
		case r.Group != "":
			place = "group " + r.Group + ", " + place
		case r.Wave >= 0:
			place = fmt.Sprintf("wave %d, %s", r.Wave+1, place)
		}
		state := "open"
		switch {
		case r.Paused:
			state = "paused"
		case !r.Open && r.OpensAt.IsZero():
			state = "never opens for this agent"
		case !r.Open:
			state = "opens " + r.OpensAt.Format(time.RFC3339)
		}
		fmt.Fprintf(out, "  rollout: %s; %s: %s\n", place, state, r.Reason)
	}
	if wh.Window != "" {
		fmt.Fprintf(out, "  maintenance window: %s\n", wh.Window)
	}
	switch {
	case wh.Allowed:
		fmt.Fprintf(out, "  next allowed update: now\n")
	case !wh.NextAllowed.IsZero():
		fmt.Fprintf(out, "  next allowed update: %s", wh.NextAllowed.Format(time.RFC3339))
		if w != nil && w.Location != nil && w.Location != time.UTC {
			fmt.Fprintf(out, " (%s)", wh.NextAllowed.In(w.Location).Format("Mon 2006-01-02 15:04 MST"))
		}
		fmt.Fprintln(out)
	case wh.Rollout != nil && wh.Rollout.Paused:
		fmt.Fprintf(out, "  next allowed update: none while the rollout is paused\n")
	}
}

// describeWindow says a window in the configuration's terms.
func describeWindow(w *selfupdate.Window) string {
	if w.IsZero() {
		return ""
	}
	days := "every day"
	if len(w.Days) > 0 {
		names := make([]string, len(w.Days))
		for i, d := range w.Days {
			names[i] = d.String()[:3]
		}
		days = strings.Join(names, ", ")
	}
	loc := "UTC"
	if w.Location != nil {
		loc = w.Location.String()
	}
	start := time.Time{}.Add(w.Start).Format("15:04")
	return fmt.Sprintf("%s %s for %s, %s", days, start, w.Duration, loc)
}
