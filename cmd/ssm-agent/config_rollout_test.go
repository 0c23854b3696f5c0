package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// badRolloutConfigs are SelfUpdate.Group and MaintenanceWindow values the
// core's start-up and `ssm-agent config` both refuse, with what the error
// names.
var badRolloutConfigs = []struct{ name, in, want string }{
	{"group-path", `{"SelfUpdate": {"Group": "../prod"}}`, `SelfUpdate.Group: group name "../prod"`},
	{"group-long", `{"SelfUpdate": {"Group": "` + strings.Repeat("g", 65) + `"}}`, "SelfUpdate.Group"},
	{"group-space", `{"SelfUpdate": {"Group": "can ary"}}`, "SelfUpdate.Group"},
	{"group-kind", `{"SelfUpdate": {"Group": 3}}`, "Group: want a string"},
	{"window-empty", `{"SelfUpdate": {"MaintenanceWindow": {}}}`, "SelfUpdate.MaintenanceWindow.DurationMinutes is 0"},
	{"window-zero", `{"SelfUpdate": {"MaintenanceWindow": {"Days": ["Sat"], "Start": "02:00", "DurationMinutes": 0}}}`, "SelfUpdate.MaintenanceWindow.DurationMinutes is 0"},
	{"window-negative", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinutes": -5}}}`, "SelfUpdate.MaintenanceWindow.DurationMinutes is -5"},
	{"window-too-long", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinutes": 10081}}}`, "SelfUpdate.MaintenanceWindow.DurationMinutes is 10081: want 1 to 10080"},
	{"window-overflow", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinutes": 9223372036854775807}}}`, "SelfUpdate.MaintenanceWindow.DurationMinutes"},
	{"bad-day", `{"SelfUpdate": {"MaintenanceWindow": {"Days": ["Sat", "Caturday"], "Start": "02:00", "DurationMinutes": 60}}}`, `SelfUpdate.MaintenanceWindow.Days[1] is "Caturday"`},
	{"day-twice", `{"SelfUpdate": {"MaintenanceWindow": {"Days": ["sat", "Saturday"], "Start": "02:00", "DurationMinutes": 60}}}`, `SelfUpdate.MaintenanceWindow.Days[1] is "Saturday": Saturday is listed twice`},
	{"day-kind", `{"SelfUpdate": {"MaintenanceWindow": {"Days": "Sat", "Start": "02:00", "DurationMinutes": 60}}}`, "MaintenanceWindow.Days"},
	{"bad-time", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "25:00", "DurationMinutes": 60}}}`, `SelfUpdate.MaintenanceWindow.Start is "25:00"`},
	{"bad-time-format", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "2am", "DurationMinutes": 60}}}`, `SelfUpdate.MaintenanceWindow.Start is "2am": want HH:MM`},
	{"no-start", `{"SelfUpdate": {"MaintenanceWindow": {"DurationMinutes": 60}}}`, `SelfUpdate.MaintenanceWindow.Start is ""`},
	{"bad-minutes", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:60", "DurationMinutes": 60}}}`, "SelfUpdate.MaintenanceWindow.Start"},
	{"signed-time", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "+2:00", "DurationMinutes": 60}}}`, "SelfUpdate.MaintenanceWindow.Start"},
	{"unknown-zone", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinutes": 60, "TimeZone": "Mars/Olympus"}}}`, `SelfUpdate.MaintenanceWindow.TimeZone is "Mars/Olympus": unknown time zone`},
	{"zone-path", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinutes": 60, "TimeZone": "../../../etc/passwd"}}}`, "SelfUpdate.MaintenanceWindow.TimeZone"},
	{"zone-absolute", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinutes": 60, "TimeZone": "/etc/localtime"}}}`, "not a path"},
	{"window-typo", `{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinute": 60}}}`, `unknown key "DurationMinute" (did you mean DurationMinutes?)`},
	{"window-typo-section", `{"SelfUpdate": {"MaintenanceWindw": {}}}`, "did you mean MaintenanceWindow?"},
}

func TestConfigRolloutRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range badRolloutConfigs {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := parseConfig([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseConfig(%.100q) = %v\nwant an error with %q", tt.in, err, tt.want)
			}
			// `ssm-agent config` refuses it too, with the same words.
			path := filepath.Join(dir, tt.name+".json")
			os.WriteFile(path, []byte(tt.in), 0o600)
			status, _, errOut := runCLI(t, "", "config", "--config", path, "--data-dir", filepath.Join(dir, "data"), "--log-dir", filepath.Join(dir, "log"), "--install-dir", filepath.Join(dir, "install"))
			if status != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("config = %d, %q; want 1 and %q", status, errOut, tt.want)
			}
		})
	}
}

// TestConfigRolloutAccepted: the documented form, day names in any case
// and spelling, zones by name; the window selfupdate gets.
func TestConfigRolloutAccepted(t *testing.T) {
	cfg, warnings, err := parseConfig([]byte(`{"SelfUpdate": {"Group": "canary", "MaintenanceWindow": {"Days": ["Sat", "sunday", "MON"], "Start": "22:30", "DurationMinutes": 240, "TimeZone": "Europe/Berlin"}}}`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("parseConfig = %v, %q", err, warnings)
	}
	if cfg.SelfUpdate.Group != "canary" {
		t.Errorf("Group %q", cfg.SelfUpdate.Group)
	}
	w, err := cfg.SelfUpdate.MaintenanceWindow.window()
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Days) != 3 || w.Days[0] != time.Saturday || w.Days[1] != time.Sunday || w.Days[2] != time.Monday ||
		w.Start != 22*time.Hour+30*time.Minute || w.Duration != 4*time.Hour || w.Location.String() != "Europe/Berlin" {
		t.Errorf("window %+v", w)
	}
	if got := describeWindow(w); got != "Sat, Sun, Mon 22:30 for 4h0m0s, Europe/Berlin" {
		t.Errorf("describeWindow = %q", got)
	}
	// No zone is UTC; no days is every day; no window is none.
	cfg, _, err = parseConfig([]byte(`{"SelfUpdate": {"MaintenanceWindow": {"Start": "00:00", "DurationMinutes": 10080}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if w, err := cfg.SelfUpdate.MaintenanceWindow.window(); err != nil || w.Location != time.UTC || len(w.Days) != 0 {
		t.Errorf("defaults: %+v, %v", w, err)
	}
	cfg, _, _ = parseConfig([]byte(`{}`))
	if w, err := cfg.SelfUpdate.MaintenanceWindow.window(); w != nil || err != nil {
		t.Errorf("no window: %+v, %v", w, err)
	}
	b, _ := json.Marshal(cfg.SelfUpdate)
	if strings.Contains(string(b), "MaintenanceWindow") || strings.Contains(string(b), "Group") {
		t.Errorf("an unset window or group is shown: %s", b)
	}
}

// FuzzMaintenanceWindow: any SelfUpdate section parses or is refused with
// an error naming a SelfUpdate key, never a panic; an accepted window is
// one selfupdate.New accepts.
func FuzzMaintenanceWindow(f *testing.F) {
	for _, s := range []string{
		`{"Days": ["Sat", "Sun"], "Start": "02:00", "DurationMinutes": 240, "TimeZone": "UTC"}`,
		`{"Days": ["monday"], "Start": "23:59", "DurationMinutes": 10080, "TimeZone": "America/New_York"}`,
		`{"Start": "00:00", "DurationMinutes": 1}`,
		`{"Days": ["Caturday"], "Start": "2:00", "DurationMinutes": 0, "TimeZone": "../x"}`,
	} {
		f.Add(s, "canary")
	}
	f.Fuzz(func(t *testing.T, window, group string) {
		g, _ := json.Marshal(group)
		in := `{"SelfUpdate": {"Group": ` + string(g) + `, "MaintenanceWindow": ` + window + `}}`
		cfg, _, err := parseConfig([]byte(in))
		if err != nil {
			return
		}
		w, err := cfg.SelfUpdate.MaintenanceWindow.window()
		if err != nil {
			t.Fatalf("parseConfig accepted %s, window() refuses it: %v", window, err)
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("accepted %s: %v", window, err)
		}
		if w != nil {
			at := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
			if s, e := w.Next(at); e.Sub(s) < time.Minute || e.Before(at) {
				t.Fatalf("%s: Next = %s, %s", window, s, e)
			}
		}
	})
}
