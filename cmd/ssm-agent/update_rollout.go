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

// updateWhen is what `update --check` adds to manifest check's decision
// (whose "rollout" object it fills too): "nextAllowed" (when the update
// may happen — now's time when it may happen now; absent when it may not
// happen as the manifest stands: no update, a paused rollout, a wave that
// never opens), "allowed" (whether it may now, window and all) and
// "maintenanceWindow" (SelfUpdate.MaintenanceWindow in words).
type updateWhen struct {
	NextAllowed time.Time `json:"nextAllowed,omitzero"`
	Allowed     bool      `json:"allowed"`
	Window      string    `json:"maintenanceWindow,omitempty"`
	rollout     *manifest.RolloutStatus
	nextCheck   time.Time
}

// whenOf says when plan's update may happen, decided at now.
func whenOf(plan *selfupdate.Plan, w *selfupdate.Window, now time.Time) updateWhen {
	res := updateWhen{Allowed: plan.Allowed(), Window: describeWindow(w), rollout: plan.Rollout}
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
	if r := wh.rollout; r != nil {
		place := fmt.Sprintf("position %.2f", r.Position)
		switch {
		case r.Group != "":
			place = "group " + r.Group + ", " + place
		case r.Wave >= 0:
			place = fmt.Sprintf("wave %d, %s", r.Wave, place)
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
	case wh.rollout != nil && wh.rollout.Paused:
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

// onCheck keeps what the scheduled updater's last check said, for status.
func (c *core) onCheck(plan *selfupdate.Plan, next time.Time) {
	wh := updateWhen{nextCheck: next}
	if plan != nil {
		w, _ := c.cfg.SelfUpdate.MaintenanceWindow.window()
		wh = whenOf(plan, w, time.Now())
		wh.nextCheck = next
	}
	c.lastCheck.Store(&wh)
}

// checkStatus adds the last check's findings to the update status.
func (c *core) checkStatus(st *UpdateStatus) {
	wh := c.lastCheck.Load()
	if wh == nil {
		return
	}
	st.NextCheck = wh.nextCheck.UTC()
	st.Rollout = newRolloutJSON(wh.rollout)
	if !wh.Allowed {
		st.NextAllowed = wh.NextAllowed
	}
}

// printUpdateWhen prints status's line on the scheduled updater's last
// check, if there was one.
func printUpdateWhen(w io.Writer, u UpdateStatus) {
	if u.NextCheck.IsZero() {
		return
	}
	line := "  next check " + u.NextCheck.Format(time.RFC3339)
	if !u.NextAllowed.IsZero() {
		line += ", update allowed from " + u.NextAllowed.Format(time.RFC3339)
	}
	if r := u.Rollout; r != nil {
		switch {
		case r.Paused:
			line += ", rollout paused"
		case !r.Open && r.OpensAt != "":
			line += ", rollout opens for this agent " + r.OpensAt
		}
	}
	fmt.Fprintln(w, line)
}
