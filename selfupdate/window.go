package selfupdate

import (
	"fmt"
	"time"
)

// MaxWindowDuration is the longest a maintenance window may last.
const MaxWindowDuration = 7 * 24 * time.Hour

// A Window is a recurring maintenance window: on each of Days, it opens
// Start after midnight in Location (wall clock) and stays open for Duration
// (real time). A window may cross midnight: it belongs to the day it
// starts on. On a day whose clocks change, the start is the wall-clock
// time as time.Date normalises it — a start the clocks skip or pass twice
// is one of the instants near it, which time.Date picks (the tests pin
// down Europe/Berlin's and America/New_York's) — and Duration is counted
// in real time, so a 4-hour window holds 4 hours whatever the clocks do.
//
// The zero Window is open at any time.
type Window struct {
	// Days are the days the window opens on; none means every day.
	Days []time.Weekday
	// Start is when the window opens, after local midnight: in [0, 24h).
	Start time.Duration
	// Duration is how long it stays open: more than 0, at most 7 days.
	Duration time.Duration
	// Location is the time zone of Days and Start; nil means UTC.
	Location *time.Location
}

// IsZero says whether w is the zero Window, open at any time.
func (w *Window) IsZero() bool {
	return w == nil || (len(w.Days) == 0 && w.Start == 0 && w.Duration == 0 && w.Location == nil)
}

// Validate checks w; its errors name the field (Window.Duration, say).
// The zero Window is valid.
func (w *Window) Validate() error {
	if w.IsZero() {
		return nil
	}
	if w.Duration <= 0 || w.Duration > MaxWindowDuration {
		return fmt.Errorf("Window.Duration %s: want more than 0 and at most %s", w.Duration, MaxWindowDuration)
	}
	if w.Start < 0 || w.Start >= 24*time.Hour {
		return fmt.Errorf("Window.Start %s: want at least 0 and less than 24h (a time after local midnight)", w.Start)
	}
	var seen [7]bool
	for i, d := range w.Days {
		switch {
		case d < time.Sunday || d > time.Saturday:
			return fmt.Errorf("Window.Days[%d] %d: not a day of the week (0 Sunday to 6 Saturday)", i, int(d))
		case seen[d]:
			return fmt.Errorf("Window.Days[%d] %s: listed twice", i, d)
		}
		seen[d] = true
	}
	return nil
}

func (w *Window) loc() *time.Location {
	if w.Location == nil {
		return time.UTC
	}
	return w.Location
}

// on says whether the window opens on day d.
func (w *Window) on(d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}

// opening returns the window's opening on the day y-m-d (which time.Date
// normalises), and whether it opens that day.
func (w *Window) opening(y int, m time.Month, d int) (start, end time.Time, ok bool) {
	loc := w.loc()
	// The day is taken at noon: midnight does not exist on the days some
	// zones (America/Santiago, Atlantic/Azores) change their clocks, and
	// time.Date would move it to the day before.
	day := time.Date(y, m, d, 12, 0, 0, 0, loc)
	if !w.on(day.Weekday()) {
		return time.Time{}, time.Time{}, false
	}
	s := w.Start
	h, mi := int(s/time.Hour), int(s%time.Hour/time.Minute)
	sec, ns := int(s%time.Minute/time.Second), int(s%time.Second)
	start = time.Date(day.Year(), day.Month(), day.Day(), h, mi, sec, ns, loc)
	return start, start.Add(w.Duration), true
}

// Contains says whether the window is open at t. The zero Window always is.
func (w *Window) Contains(t time.Time) bool {
	if w.IsZero() {
		return true
	}
	s, _ := w.Next(t)
	return !s.IsZero() && !s.After(t)
}

// Next returns the opening of the window open at t (start ≤ t < end), or
// else of the next one to open after t. Where openings overlap (a window
// longer than the gap between its days), end is the latest end of the
// openings that hold t. The zero Window returns t and the zero time (open,
// with no end). An invalid window, which never opens, returns zero times.
func (w *Window) Next(t time.Time) (start, end time.Time) {
	if w.IsZero() {
		return t, time.Time{}
	}
	if w.Validate() != nil {
		return time.Time{}, time.Time{}
	}
	y, m, d := t.In(w.loc()).Date()
	// An opening up to 8 days back may hold t (Duration ≤ 7 days; a DST
	// day is an hour longer); one in the next 8 days is next.
	var open bool
	for i := -8; i <= 8; i++ {
		s, e, ok := w.opening(y, m, d+i)
		if !ok {
			continue
		}
		switch {
		case !s.After(t) && t.Before(e):
			if !open || s.Before(start) {
				start = s
			}
			if !open || e.After(end) {
				end = e
			}
			open = true
		case open:
			if !s.After(end) && e.After(end) { // adjoining or overlapping
				end = e
			}
		case s.After(t):
			return s, e
		}
	}
	return start, end
}
