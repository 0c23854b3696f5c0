//go:build unix

package selfupdate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

// bubbleStart is where a synctest bubble's clock starts: Saturday 1
// January 2000, midnight UTC.
var bubbleStart = mustTime("2000-01-01T00:00:00Z")

// rolloutSetup writes a manifest whose 2.0.0 (the target of 1.0.0) has the
// rollout given as JSON and a checksum no package matches: every attempt
// to install is a failed result, so attempts can be counted.
func rolloutSetup(t *testing.T, rollout string) (Config, string) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pkg.tar.gz"), tarGz(t, map[string]string{"agent.conf": "ok"}), 0o644)
	r := ""
	if rollout != "" {
		r = `,"Rollout":` + rollout
	}
	m := `{"SchemaVersion":"1.0","UriFormat":"file://` + dir + `/pkg.tar.gz?{PackageName}{PackageVersion}{FileName}",
		"Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[
		{"Version":"1.0.0","CheckSum":"` + strings.Repeat("0", 64) + `","Status":"Deprecated"},
		{"Version":"2.0.0","CheckSum":"` + strings.Repeat("1", 64) + `","Status":"Active"` + r + `}]}]}]}`
	path := filepath.Join(dir, "m.json")
	os.WriteFile(path, []byte(m), 0o644)
	layout := Layout{Dir: filepath.Join(dir, "install")}
	return Config{
		ManifestURL: "file://" + path,
		Platform:    manifest.Platform{Name: "linux", Arch: "amd64"},
		Current:     manifest.MustParseVersion("1.0.0"),
		InstallDir:  layout.Dir, StateDir: filepath.Join(dir, "update"),
		Restarter: fileService{layout}, Health: fileService{layout},
		Schedule:       Schedule{Days: 7, JitterMin: time.Hour, JitterMax: 2 * time.Hour},
		HealthInterval: time.Hour,
		InstanceID:     "i-0123456789abcdef0",
	}, path
}

// serveFor runs Serve in the bubble for d and returns the times of its
// install attempts.
func serveFor(t *testing.T, cfg Config, d time.Duration) []time.Time {
	var mu sync.Mutex
	var attempts []time.Time
	cfg.OnResult = func(Result) {
		mu.Lock()
		attempts = append(attempts, time.Now())
		mu.Unlock()
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- u.Serve(ctx) }()
	time.Sleep(d)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return attempts
}

// TestServeWaitsForRolloutAndWindow: the agent's group opens at +30 h
// (Sunday 06:00), the window is 02:00–06:00 daily, so the first install is
// in Monday's window — not at the group's opening (the window has just
// closed), not a schedule period (7 days) later, and at a jittered time
// inside the window.
func TestServeWaitsForRolloutAndWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		cfg, _ := rolloutSetup(t, `{"Start":"`+start.UTC().Format(time.RFC3339)+`","Groups":[{"Name":"canary","AfterHours":30}]}`)
		cfg.Group = "canary"
		cfg.Window = &Window{Start: 2 * time.Hour, Duration: 4 * time.Hour}
		type check struct {
			plan     *Plan
			at, next time.Time
		}
		var mu sync.Mutex
		var checks []check
		cfg.OnCheck = func(p *Plan, next time.Time) {
			mu.Lock()
			checks = append(checks, check{p, time.Now(), next})
			mu.Unlock()
		}
		attempts := serveFor(t, cfg, 5*24*time.Hour)
		mu.Lock()
		defer mu.Unlock()
		// The first check (1–2 h) sees the group open at +30 h, outside
		// the window: allowed Monday 02:00, checked again inside it.
		if len(checks) < 2 || checks[0].plan == nil || checks[0].plan.Rollout == nil || checks[0].plan.Rollout.Open ||
			!checks[0].plan.NextAllowed.Equal(start.Add(50*time.Hour)) || !checks[0].next.Equal(checks[1].at) {
			t.Fatalf("checks %+v", checks)
		}
		if len(attempts) != 1 {
			t.Fatalf("%d install attempts in 5 days, want 1: %v", len(attempts), attempts)
		}
		from, to := start.Add(50*time.Hour), start.Add(54*time.Hour) // Monday 02:00–06:00
		if a := attempts[0]; a.Before(from) || !a.Before(to) {
			t.Errorf("attempt at %s, want in [%s, %s)", a, from, to)
		}
	})
}

// TestServePausedNeverTakes: a paused release is not taken by Serve in ten
// days, nor by Update (the operator's override of the window, not of the
// pause).
func TestServePausedNeverTakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, _ := rolloutSetup(t, `{"Start":"`+time.Now().UTC().Format(time.RFC3339)+`","Waves":[{"Percent":100,"AfterHours":0}],"Paused":true}`)
		if a := serveFor(t, cfg, 10*24*time.Hour); len(a) != 0 {
			t.Errorf("a paused release was attempted at %v", a)
		}
		u, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := u.Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if plan.Allowed() || plan.Rollout == nil || !plan.Rollout.Paused || !plan.NextAllowed.IsZero() {
			t.Errorf("paused: plan %+v, rollout %+v", plan, plan.Rollout)
		}
		if r, err := u.Update(t.Context()); err != nil || r.Code != "" {
			t.Errorf("Update of a paused release = %+v, %v", r, err)
		}
	})
}

// TestUpdateOverridesWindow: outside the window Check says when it opens
// and Serve does not install, but Update (update --now) does at once.
func TestUpdateOverridesWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, _ := rolloutSetup(t, "") // no rollout: open at once
		// Saturday 00:00 now; the window opens Sunday 03:00 UTC.
		cfg.Window = &Window{Days: []time.Weekday{time.Sunday}, Start: 3 * time.Hour, Duration: time.Hour}
		u, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := u.Check(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := time.Now().Add(27 * time.Hour)
		if plan.Decision.Action != manifest.ActionUpdate || plan.Allowed() || !plan.NextAllowed.Equal(want) || plan.Rollout != nil {
			t.Errorf("plan: action %s, allowed %v, next %s (want %s)", plan.Decision.Action, plan.Allowed(), plan.NextAllowed, want)
		}
		r, err := u.Update(t.Context())
		if r.Code == "" || r.Target != "2.0.0" || err == nil {
			t.Errorf("Update outside the window = %+v, %v; want an attempt (failing its checksum)", r, err)
		}
		// Serve (on a state of its own), from Saturday 00:00 for a day: its
		// check is at 1–2 h, outside the window, and nothing is attempted
		// before Sunday 03:00.
		cfg.StateDir += "-serve"
		attempts := serveFor(t, cfg, 26*time.Hour)
		if len(attempts) != 0 {
			t.Errorf("Serve attempted outside the window: %v", attempts)
		}
		attempts = serveFor(t, cfg, 7*24*time.Hour)
		if len(attempts) != 1 || !cfg.Window.Contains(attempts[0]) {
			t.Errorf("Serve attempts %v, want one in the window", attempts)
		}
	})
}

// TestNextCheck: the wait after a check, given its plan.
func TestNextCheck(t *testing.T) {
	s := Schedule{Days: 1, JitterMin: time.Hour, JitterMax: 3 * time.Hour}
	now := mustTime("2026-12-01T00:00:00Z")
	maxRand := func(n int64) int64 { return n - 1 }
	zeroRand := func(int64) int64 { return 0 }
	for _, c := range []struct {
		name string
		plan *Plan
		rnd  func(int64) int64
		want time.Duration
	}{
		{"failed check", nil, zeroRand, 25 * time.Hour},
		{"failed check, most jitter", nil, maxRand, 27 * time.Hour},
		{"nothing to wait for", &Plan{}, zeroRand, 25 * time.Hour},
		{"rollout opens in 2h, no window", &Plan{NextAllowed: now.Add(2 * time.Hour)}, zeroRand, 2 * time.Hour},
		{"… with the most jitter", &Plan{NextAllowed: now.Add(2 * time.Hour)}, maxRand, 5*time.Hour - 1},
		{"window of 30 min at 2h", &Plan{NextAllowed: now.Add(2 * time.Hour), windowEnd: now.Add(150 * time.Minute)}, maxRand, 150*time.Minute - 1},
		{"opens in 3 days: the period first", &Plan{NextAllowed: now.Add(72 * time.Hour)}, zeroRand, 25 * time.Hour},
	} {
		if got := nextCheck(s, c.plan, now, c.rnd); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestAllowedAt: the rollout's opening and the window combine.
func TestAllowedAt(t *testing.T) {
	now := mustTime("2026-12-01T10:00:00Z") // a Tuesday
	target := &manifest.Release{Version: manifest.MustParseVersion("2.0.0")}
	w := &Window{Start: 22 * time.Hour, Duration: 4 * time.Hour} // daily 22:00–02:00
	for _, c := range []struct {
		name    string
		d       manifest.Decision
		w       *Window
		at, end string
		ok      bool
	}{
		{"no target", manifest.Decision{}, nil, "", "", false},
		{"no rollout, now", manifest.Decision{Target: target, Action: manifest.ActionUpdate}, nil, "2026-12-01T10:00:00Z", "", true},
		{"no rollout, the window", manifest.Decision{Target: target, Action: manifest.ActionUpdate}, w, "2026-12-01T22:00:00Z", "2026-12-02T02:00:00Z", true},
		{"opens at 23:00 in the window", manifest.Decision{Target: target, Rollout: &manifest.RolloutStatus{OpensAt: mustTime("2026-12-01T23:00:00Z")}}, w,
			"2026-12-01T23:00:00Z", "2026-12-02T02:00:00Z", true},
		{"opens at 03:00, after the window", manifest.Decision{Target: target, Rollout: &manifest.RolloutStatus{OpensAt: mustTime("2026-12-02T03:00:00Z")}}, w,
			"2026-12-02T22:00:00Z", "2026-12-03T02:00:00Z", true},
		{"paused", manifest.Decision{Target: target, Rollout: &manifest.RolloutStatus{Open: true, Paused: true}}, nil, "", "", false},
		{"never opens", manifest.Decision{Target: target, Rollout: &manifest.RolloutStatus{}}, nil, "", "", false},
		{"downgrade refused", manifest.Decision{Target: target, Action: manifest.ActionNone}, nil, "", "", false},
	} {
		at, end, ok := allowedAt(c.d, c.w, now)
		if ok != c.ok || (ok && (!at.Equal(mustTime(c.at)) || (c.end == "") != end.IsZero() || (c.end != "" && !end.Equal(mustTime(c.end))))) {
			t.Errorf("%s: %s, %s, %v", c.name, at, end, ok)
		}
	}
}

// TestNewRefusesWindow: a window New cannot use is an error naming the field.
func TestNewRefusesWindow(t *testing.T) {
	base := Config{Current: manifest.MustParseVersion("1.0.0"), InstallDir: t.TempDir(), StateDir: t.TempDir(),
		Platform: manifest.Platform{Name: "linux", Arch: "amd64"}}
	for _, c := range []struct {
		w    Window
		want string
	}{
		{Window{Days: []time.Weekday{time.Monday}}, "Config.Window.Duration"},
		{Window{Duration: 8 * 24 * time.Hour}, "Config.Window.Duration"},
		{Window{Duration: time.Hour, Start: 25 * time.Hour}, "Config.Window.Start"},
		{Window{Duration: time.Hour, Days: []time.Weekday{0, 0}}, "Config.Window.Days[1]"},
	} {
		cfg := base
		cfg.Window = &c.w
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: New = %v, want %q", c.w, err, c.want)
		}
	}
	base.Window = &Window{}
	if _, err := New(base); err != nil {
		t.Errorf("the zero window: %v", err)
	}
}
