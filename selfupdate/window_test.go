package selfupdate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func loadLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s: %v", name, err)
	}
	return loc
}

// TestWindowNext: openings across midnight, on listed days only, and the
// window open at t returned with its end.
func TestWindowNext(t *testing.T) {
	// Saturday and Sunday 22:00 for 4 h, UTC: open Sat 22:00–Sun 02:00
	// and Sun 22:00–Mon 02:00.
	w := &Window{Days: []time.Weekday{time.Saturday, time.Sunday}, Start: 22 * time.Hour, Duration: 4 * time.Hour}
	for _, c := range []struct{ at, start, end string }{
		{"2026-12-04T12:00:00Z", "2026-12-05T22:00:00Z", "2026-12-06T02:00:00Z"}, // Friday: next is Saturday's
		{"2026-12-05T22:00:00Z", "2026-12-05T22:00:00Z", "2026-12-06T02:00:00Z"}, // at the start: open
		{"2026-12-06T01:59:59Z", "2026-12-05T22:00:00Z", "2026-12-06T02:00:00Z"}, // Sunday morning: Saturday's, across midnight
		{"2026-12-06T02:00:00Z", "2026-12-06T22:00:00Z", "2026-12-07T02:00:00Z"}, // the end is not in it
		{"2026-12-07T01:00:00Z", "2026-12-06T22:00:00Z", "2026-12-07T02:00:00Z"}, // Monday morning: Sunday's
		{"2026-12-07T02:00:00Z", "2026-12-12T22:00:00Z", "2026-12-13T02:00:00Z"}, // Monday: next Saturday
	} {
		at := mustTime(c.at)
		s, e := w.Next(at)
		if !s.Equal(mustTime(c.start)) || !e.Equal(mustTime(c.end)) {
			t.Errorf("Next(%s) = %s, %s; want %s, %s", c.at, s.UTC().Format(time.RFC3339), e.UTC().Format(time.RFC3339), c.start, c.end)
		}
		if got, want := w.Contains(at), !mustTime(c.start).After(at); got != want {
			t.Errorf("Contains(%s) = %v", c.at, got)
		}
	}
}

// TestWindowTimeZones: the same wall-clock window is a different instant
// in each zone, and the day is the zone's, not UTC's.
func TestWindowTimeZones(t *testing.T) {
	tokyo, ny := loadLoc(t, "Asia/Tokyo"), loadLoc(t, "America/New_York")
	// Monday 01:00 in Tokyo is Sunday 16:00 UTC.
	w := &Window{Days: []time.Weekday{time.Monday}, Start: time.Hour, Duration: time.Hour, Location: tokyo}
	if s, _ := w.Next(mustTime("2026-12-06T00:00:00Z")); !s.Equal(mustTime("2026-12-06T16:00:00Z")) {
		t.Errorf("Tokyo Monday 01:00 = %s", s.UTC())
	}
	w.Location = ny // Monday 01:00 EST is Monday 06:00 UTC
	if s, _ := w.Next(mustTime("2026-12-06T00:00:00Z")); !s.Equal(mustTime("2026-12-07T06:00:00Z")) {
		t.Errorf("New York Monday 01:00 = %s", s.UTC())
	}
	w.Location = nil // UTC
	if s, _ := w.Next(mustTime("2026-12-06T00:00:00Z")); !s.Equal(mustTime("2026-12-07T01:00:00Z")) {
		t.Errorf("UTC Monday 01:00 = %s", s.UTC())
	}
}

// TestWindowDST: on the days clocks change, the start is the wall-clock
// time as time.Date makes it, and the window lasts its Duration in real
// time.
func TestWindowDST(t *testing.T) {
	berlin, ny := loadLoc(t, "Europe/Berlin"), loadLoc(t, "America/New_York")
	for _, c := range []struct {
		name       string
		loc        *time.Location
		start      time.Duration
		at         string
		wantStart  string // UTC
		wantLocal  string // the start's wall clock
		wantLength time.Duration
	}{
		// Berlin springs forward on 29 March 2026 at 02:00 CET to 03:00 CEST.
		{"berlin spring 01:30", berlin, 90 * time.Minute, "2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z", "01:30", 4 * time.Hour},
		{"berlin spring 02:30 (skipped)", berlin, 150 * time.Minute, "2026-03-29T00:00:00Z", "2026-03-29T01:30:00Z", "03:30", 4 * time.Hour},
		{"berlin spring 03:30", berlin, 210 * time.Minute, "2026-03-29T00:00:00Z", "2026-03-29T01:30:00Z", "03:30", 4 * time.Hour},
		// Berlin falls back on 25 October 2026 at 03:00 CEST to 02:00 CET;
		// 02:30 happens twice: time.Date takes the second (CET).
		{"berlin fall 02:30 (twice)", berlin, 150 * time.Minute, "2026-10-24T23:00:00Z", "2026-10-25T01:30:00Z", "02:30", 4 * time.Hour},
		{"berlin fall 03:30", berlin, 210 * time.Minute, "2026-10-24T23:00:00Z", "2026-10-25T02:30:00Z", "03:30", 4 * time.Hour},
		// New York: 8 March 2026 02:00 EST → 03:00 EDT; 1 November 2026 02:00 EDT → 01:00 EST.
		// The skipped 02:30 is 01:30 EST here, as time.Date normalises it.
		{"new york spring 02:30 (skipped)", ny, 150 * time.Minute, "2026-03-08T05:00:00Z", "2026-03-08T06:30:00Z", "01:30", 4 * time.Hour},
		{"new york spring 03:30", ny, 210 * time.Minute, "2026-03-08T05:00:00Z", "2026-03-08T07:30:00Z", "03:30", 4 * time.Hour},
		{"new york fall 01:30 (twice)", ny, 90 * time.Minute, "2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z", "01:30", 4 * time.Hour},
		{"new york fall 00:00", ny, 0, "2026-11-01T03:00:00Z", "2026-11-01T04:00:00Z", "00:00", 4 * time.Hour},
	} {
		w := &Window{Days: []time.Weekday{time.Sunday}, Start: c.start, Duration: 4 * time.Hour, Location: c.loc}
		s, e := w.Next(mustTime(c.at))
		if !s.Equal(mustTime(c.wantStart)) || s.In(c.loc).Format("15:04") != c.wantLocal {
			t.Errorf("%s: start %s (%s local), want %s (%s local)", c.name, s.UTC(), s.In(c.loc).Format("15:04"), c.wantStart, c.wantLocal)
		}
		if e.Sub(s) != c.wantLength {
			t.Errorf("%s: lasts %s, want %s", c.name, e.Sub(s), c.wantLength)
		}
		if !w.Contains(s) || !w.Contains(e.Add(-time.Nanosecond)) || w.Contains(e) || w.Contains(s.Add(-time.Nanosecond)) {
			t.Errorf("%s: Contains disagrees with [%s, %s)", c.name, s, e)
		}
	}
	// A daily window at 02:30 Berlin through the spring week: each day's
	// opening is a day apart in wall clock, 23 h across the short night.
	w := &Window{Start: 150 * time.Minute, Duration: time.Hour, Location: berlin}
	s1, _ := w.Next(mustTime("2026-03-27T12:00:00Z"))
	s2, _ := w.Next(s1.Add(2 * time.Hour))
	s3, _ := w.Next(s2.Add(2 * time.Hour))
	if s2.Sub(s1) != 24*time.Hour || s3.Sub(s2) != 23*time.Hour {
		t.Errorf("daily openings %s, %s, %s", s1, s2, s3)
	}
}

// TestWindowZero: the zero window (and a nil one) is open at any time.
func TestWindowZero(t *testing.T) {
	at := mustTime("2026-12-01T10:00:00Z")
	for _, w := range []*Window{nil, {}} {
		if !w.IsZero() || !w.Contains(at) || w.Validate() != nil {
			t.Errorf("%#v: not open at any time", w)
		}
		if s, e := w.Next(at); !s.Equal(at) || !e.IsZero() {
			t.Errorf("%#v: Next = %s, %s", w, s, e)
		}
	}
}

// TestWindowLong: a week-long window on every day is always open, its end
// the last of the chained openings; overlapping openings merge.
func TestWindowLong(t *testing.T) {
	w := &Window{Duration: MaxWindowDuration}
	at := mustTime("2026-12-01T10:00:00Z")
	s, e := w.Next(at)
	if s.After(at) || !e.After(at.Add(7*24*time.Hour)) {
		t.Errorf("Next = %s, %s", s, e)
	}
	w = &Window{Days: []time.Weekday{time.Monday, time.Tuesday}, Duration: 36 * time.Hour}
	// Monday 00:00 → Tuesday 12:00, Tuesday 00:00 → Wednesday 12:00: one
	// opening from Monday to Wednesday noon.
	s, e = w.Next(mustTime("2026-11-30T01:00:00Z"))
	if !s.Equal(mustTime("2026-11-30T00:00:00Z")) || !e.Equal(mustTime("2026-12-02T12:00:00Z")) {
		t.Errorf("overlapping openings: %s, %s", s, e)
	}
}

func TestWindowValidate(t *testing.T) {
	for _, c := range []struct {
		w    Window
		want string
	}{
		{Window{Days: []time.Weekday{time.Monday}}, "Window.Duration 0s"},
		{Window{Start: time.Hour}, "Window.Duration"},
		{Window{Duration: -time.Hour}, "Window.Duration"},
		{Window{Duration: MaxWindowDuration + 1}, "Window.Duration"},
		{Window{Duration: time.Hour, Start: 24 * time.Hour}, "Window.Start 24h0m0s"},
		{Window{Duration: time.Hour, Start: -1}, "Window.Start"},
		{Window{Duration: time.Hour, Days: []time.Weekday{1, 2, 1}}, "Window.Days[2] Monday: listed twice"},
		{Window{Duration: time.Hour, Days: []time.Weekday{7}}, "Window.Days[0] 7"},
	} {
		err := c.w.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate = %v, want %q", c.w, err, c.want)
		}
		if s, e := c.w.Next(mustTime("2026-12-01T10:00:00Z")); !e.IsZero() || !s.IsZero() || c.w.Contains(mustTime("2026-12-01T10:00:00Z")) {
			t.Errorf("%+v: an invalid window's Next = %s, %s; want never open", c.w, s, e)
		}
	}
	ok := Window{Days: []time.Weekday{time.Sunday, time.Saturday}, Start: 23*time.Hour + 59*time.Minute, Duration: MaxWindowDuration}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}

// FuzzWindowNext: for any valid window and time, Next's opening holds t
// or starts after it, lasts at least Duration, and agrees with Contains.
func FuzzWindowNext(f *testing.F) {
	f.Add(uint8(0b1100001), int64(2*time.Hour), int64(4*time.Hour), int64(1774746000), uint8(1))
	f.Add(uint8(0), int64(0), int64(MaxWindowDuration), int64(1761350400), uint8(2))
	f.Add(uint8(0b1), int64(150*time.Minute), int64(time.Hour), int64(1772953200), uint8(3))
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"}
	f.Fuzz(func(t *testing.T, days uint8, start, duration, unix int64, zone uint8) {
		loc, err := time.LoadLocation(zones[int(zone)%len(zones)])
		if err != nil {
			t.Skip(err)
		}
		w := &Window{Start: time.Duration(start), Duration: time.Duration(duration), Location: loc}
		for d := time.Sunday; d <= time.Saturday; d++ {
			if days&(1<<d) != 0 {
				w.Days = append(w.Days, d)
			}
		}
		if w.Validate() != nil || unix < -1e11 || unix > 1e11 {
			return
		}
		at := time.Unix(unix, 0)
		s, e := w.Next(at)
		switch {
		case e.Sub(s) < w.Duration:
			t.Fatalf("%+v at %s: opening %s–%s shorter than the window", w, at, s, e)
		case !e.After(at):
			t.Fatalf("%+v at %s: opening %s–%s already over", w, at, s, e)
		case s.After(at) && s.Sub(at) > 8*24*time.Hour:
			t.Fatalf("%+v at %s: next opening %s more than a week away", w, at, s)
		case w.Contains(at) != !s.After(at):
			t.Fatalf("%+v at %s: Contains disagrees with Next %s–%s", w, at, s, e)
		case !w.Contains(s) || !w.on(s.In(loc).Weekday()):
			t.Fatalf("%+v at %s: opening %s not on a window day", w, at, s)
		}
	})
}

// A weekend window across midnight, in Berlin's time: Saturday and Sunday
// from 23:00 for 4 hours.
func ExampleWindow_Next() {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		fmt.Println(err)
		return
	}
	w := &Window{Days: []time.Weekday{time.Saturday, time.Sunday}, Start: 23 * time.Hour, Duration: 4 * time.Hour, Location: berlin}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) // a Wednesday
	start, end := w.Next(now)
	fmt.Println(start.In(berlin).Format("Mon 15:04"), "to", end.In(berlin).Format("Mon 15:04"))
	fmt.Println(w.Contains(start.Add(3*time.Hour)), w.Contains(end))
	// Output:
	// Sat 23:00 to Sun 03:00
	// true false
}

// TestWindowMidnightDST: in zones whose clocks change at midnight, so that
// the day of the change has no 00:00, the window still opens on its own
// day and is closed on the others. Every hour of two years is checked
// against the window computed by hand from the local wall clock.
func TestWindowMidnightDST(t *testing.T) {
	for _, zone := range []string{"America/Santiago", "America/Havana", "Atlantic/Azores", "America/Asuncion", "Asia/Beirut", "Europe/Berlin", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		w := &Window{Days: []time.Weekday{time.Sunday}, Start: 2 * time.Hour, Duration: 4 * time.Hour, Location: loc}
		wrong := 0
		for h := 0; h < 24*365*2; h++ {
			at := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
			lt := at.In(loc)
			// On a Sunday, from 02:00 local for 4 hours of real time.
			start := time.Date(lt.Year(), lt.Month(), lt.Day(), 2, 0, 0, 0, loc)
			want := lt.Weekday() == time.Sunday && !at.Before(start) && at.Before(start.Add(4*time.Hour))
			if lt.Weekday() == time.Monday || (lt.Weekday() == time.Sunday && lt.Hour() < 2) {
				continue // a window of the day before, or the clocks' own hour
			}
			if w.Contains(at) != want {
				wrong++
				if wrong < 3 {
					t.Errorf("%s: Contains(%s) = %v, want %v", zone, lt.Format("Mon 2006-01-02 15:04 MST"), !want, want)
				}
			}
		}
		if wrong > 0 {
			t.Errorf("%s: %d hours wrong", zone, wrong)
		}
	}
}

// TestWindowNeverOpen: a window that cannot open (invalid) is never open,
// and no update is allowed by it.
func TestWindowNeverOpen(t *testing.T) {
	w := &Window{Days: []time.Weekday{time.Sunday}, Start: 25 * time.Hour, Duration: time.Hour}
	now := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	if w.Contains(now) {
		t.Error("an invalid window is open")
	}
	if s, e := w.Next(now); !s.IsZero() || !e.IsZero() {
		t.Errorf("Next = %v, %v; want zero times", s, e)
	}
}
