package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// SelfUpdate.Group and SelfUpdate.MaintenanceWindow: where the agent stands
// in a release's rollout, and when its scheduled updates may happen.

// MaintenanceWindowConfig is SelfUpdate.MaintenanceWindow, such as
// {"Days": ["Sat", "Sun"], "Start": "02:00", "DurationMinutes": 240,
// "TimeZone": "UTC"}: scheduled updates happen only inside it; `update
// --now` does not wait for it.
type MaintenanceWindowConfig struct {
	// Days are the days the window opens on: Mon to Sun or Monday to
	// Sunday, in any case; none means every day.
	Days []string
	// Start is the local time it opens, HH:MM (24-hour clock).
	Start string
	// DurationMinutes is how long it stays open: 1 to 10080 (7 days). A
	// window that starts late in the day runs across midnight, and
	// belongs to the day it starts on.
	DurationMinutes int
	// TimeZone is an IANA zone name such as Europe/Berlin, or UTC (the
	// default) or Local (the host's zone).
	TimeZone string
}

// maxWindowMinutes is the longest window, in minutes.
const maxWindowMinutes = int(selfupdate.MaxWindowDuration / time.Minute)

// checkRollout checks SelfUpdate.Group and SelfUpdate.MaintenanceWindow.
func checkRollout(su SelfUpdateConfig) error {
	if su.Group != "" {
		if err := manifest.CheckGroupName(su.Group); err != nil {
			return fmt.Errorf("SelfUpdate.Group: %w (a manifest rollout group's name)", err)
		}
	}
	_, err := su.MaintenanceWindow.window()
	return err
}

// window returns the selfupdate window of SelfUpdate.MaintenanceWindow;
// nil (none: any time) when it is absent.
func (mw *MaintenanceWindowConfig) window() (*selfupdate.Window, error) {
	if mw == nil {
		return nil, nil
	}
	const key = "SelfUpdate.MaintenanceWindow"
	if mw.DurationMinutes < 1 || mw.DurationMinutes > maxWindowMinutes {
		return nil, fmt.Errorf("%s.DurationMinutes is %d: want 1 to %d (7 days); a window of no length would never open", key, mw.DurationMinutes, maxWindowMinutes)
	}
	w := &selfupdate.Window{Duration: time.Duration(mw.DurationMinutes) * time.Minute}
	start, err := parseClock(mw.Start)
	if err != nil {
		return nil, fmt.Errorf("%s.Start is %q: %v", key, mw.Start, err)
	}
	w.Start = start
	seen := map[time.Weekday]bool{}
	for i, name := range mw.Days {
		d, ok := parseWeekday(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s.Days[%d] is %q: want a day of the week, Mon to Sun or Monday to Sunday", key, i, name)
		case seen[d]:
			return nil, fmt.Errorf("%s.Days[%d] is %q: %s is listed twice", key, i, name, d)
		}
		seen[d] = true
		w.Days = append(w.Days, d)
	}
	tz := mw.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	if tz != "Local" && (strings.HasPrefix(tz, "/") || strings.Contains(tz, "..")) {
		return nil, fmt.Errorf("%s.TimeZone is %q: want a time zone name such as Europe/Berlin, UTC or Local, not a path", key, tz)
	}
	if w.Location, err = time.LoadLocation(tz); err != nil {
		return nil, fmt.Errorf("%s.TimeZone is %q: unknown time zone (want an IANA name such as Europe/Berlin, UTC or Local)", key, tz)
	}
	if err := w.Validate(); err != nil { // what New would refuse
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return w, nil
}

// parseClock reads HH:MM, 00:00 to 23:59, as the time after midnight.
func parseClock(s string) (time.Duration, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) != 2 || len(mm) != 2 {
		return 0, fmt.Errorf("want HH:MM, 00:00 to 23:59")
	}
	h, err1 := strconv.ParseUint(hh, 10, 8)
	m, err2 := strconv.ParseUint(mm, 10, 8)
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return 0, fmt.Errorf("want HH:MM, 00:00 to 23:59")
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// parseWeekday reads Mon..Sun or Monday..Sunday, in any case.
func parseWeekday(s string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := d.String()
		if strings.EqualFold(s, full) || strings.EqualFold(s, full[:3]) {
			return d, true
		}
	}
	return 0, false
}

// rolloutConfig fills cfg's rollout fields from the configuration: the
// group, the window, and the instance id of the agent's identity (as the
// ssm-v3 worker's is chosen, else Telemetry.InstanceId; none places the
// agent in a rollout's last wave, with a warning).
func (c *core) rolloutConfig(ctx context.Context, cfg *selfupdate.Config) error {
	w, err := c.cfg.SelfUpdate.MaintenanceWindow.window()
	if err != nil {
		return err
	}
	cfg.Group, cfg.Window = c.cfg.SelfUpdate.Group, w
	cfg.InstanceID = c.updateInstanceID(ctx)
	return nil
}

// updateInstanceID is the instance id that places the agent in a rollout.
func (c *core) updateInstanceID(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, identityTimeout)
	defer cancel()
	id, err := selectIdentity(ctx, c.cfg.Identity, c.identityEnv())
	if err == nil && id.InstanceId != "" {
		return id.InstanceId
	}
	if c.cfg.Telemetry.InstanceId != "" {
		return c.cfg.Telemetry.InstanceId
	}
	if c.log != nil {
		c.log.Warn("self-update: no instance id (see the Identity section): rollouts place this agent in their last wave", "err", err)
	}
	return ""
}
