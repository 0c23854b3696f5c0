package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// updateRolloutManifest writes a manifest whose 1.0.0 is Deprecated and whose
// 2.0.0 has the rollout given as JSON.
func updateRolloutManifest(t *testing.T, dir, rollout string) string {
	m := `{"SchemaVersion":"1.0","UriFormat":"https://example.com/{PackageName}/{PackageVersion}/{FileName}",
		"Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[
		{"Version":"1.0.0","CheckSum":"` + strings.Repeat("0", 64) + `","Status":"Deprecated"},
		{"Version":"2.0.0","CheckSum":"` + strings.Repeat("1", 64) + `","Status":"Active","Rollout":` + rollout + `}]}]}]}`
	path := filepath.Join(dir, "m.json")
	os.WriteFile(path, []byte(m), 0o644)
	return path
}

// TestUpdateCheckNextAllowed: update --check says where the agent stands in
// the rollout and when the update may next happen, the rollout's opening
// moved into the maintenance window.
func TestUpdateCheckNextAllowed(t *testing.T) {
	dir := t.TempDir()
	start := time.Now().UTC().Truncate(time.Second)
	m := updateRolloutManifest(t, dir, `{"Start":"`+start.Format(time.RFC3339)+`","Waves":[{"Percent":100,"AfterHours":24}],"Groups":[{"Name":"canary","AfterHours":0}]}`)
	conf := filepath.Join(dir, "agent.json")
	os.WriteFile(conf, []byte(`{"SelfUpdate": {"MaintenanceWindow": {"Start": "02:00", "DurationMinutes": 60, "TimeZone": "UTC"}}}`), 0o600)
	check := []string{"--config", conf, "update", "--check", "--manifest-url", "file://" + m, "--version", "1.0.0",
		"--platform", "linux", "--arch", "amd64", "--data-dir", filepath.Join(dir, "data"), "--instance-id", "i-0abc"}

	status, out, errOut := runCLI(t, "", append(check, "--json")...)
	if status != 0 {
		t.Fatalf("update --check = %d, %q", status, errOut)
	}
	var got struct {
		Action      string
		Allowed     bool
		NextAllowed time.Time
		Window      string `json:"maintenanceWindow"`
		Rollout     *struct {
			Open     bool
			OpensAt  time.Time
			Wave     int
			Position float64
			Paused   bool
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	w := &selfupdate.Window{Start: 2 * time.Hour, Duration: time.Hour}
	want, _ := w.Next(start.Add(24 * time.Hour))
	if got.Action != "none" || got.Allowed || got.Rollout == nil || got.Rollout.Open || got.Rollout.Wave != 0 ||
		!got.Rollout.OpensAt.Equal(start.Add(24*time.Hour)) || !got.NextAllowed.Equal(want) || got.Window != "every day 02:00 for 1h0m0s, UTC" {
		t.Errorf("update --check --json = %s\nwant nextAllowed %s", out, want.Format(time.RFC3339))
	}
	status, out, _ = runCLI(t, "", check...)
	if status != 0 || !strings.Contains(out, "rollout: wave 0, position ") || !strings.Contains(out, "next allowed update: "+want.Format(time.RFC3339)) {
		t.Errorf("update --check = %d, %q", status, out)
	}

	// The canary group is open now: allowed once the window is, which
	// it is not at most hours of the day.
	status, out, _ = runCLI(t, "", append(check, "--group", "canary", "--json")...)
	got.Rollout, got.NextAllowed = nil, time.Time{}
	json.Unmarshal([]byte(out), &got)
	if status != 0 || got.Rollout == nil || !got.Rollout.Open || got.Action != "update" {
		t.Fatalf("canary: %d, %s", status, out)
	}
	if inWindow := w.Contains(time.Now()); got.Allowed != inWindow || got.NextAllowed.IsZero() {
		t.Errorf("canary: allowed %v (window open %v), nextAllowed %s", got.Allowed, inWindow, got.NextAllowed)
	}

	// Paused: no next allowed time at all.
	m = updateRolloutManifest(t, dir, `{"Start":"`+start.Format(time.RFC3339)+`","Waves":[{"Percent":100,"AfterHours":0}],"Paused":true}`)
	status, out, _ = runCLI(t, "", append(check, "--json")...)
	if status != 0 || strings.Contains(out, "nextAllowed") || !strings.Contains(out, `"paused":true`) {
		t.Errorf("paused: %d, %s", status, out)
	}
	status, out, _ = runCLI(t, "", check...)
	if status != 0 || !strings.Contains(out, "none while the rollout is paused") {
		t.Errorf("paused: %d, %s", status, out)
	}
	if status, _, errOut := runCLI(t, "", append(check, "--group", "../x")...); status != 2 || !strings.Contains(errOut, "--group") {
		t.Errorf("bad --group = %d, %q", status, errOut)
	}
}

// TestStatusShowsLastCheck: what the scheduled updater's last check found
// reaches status: the next check, when the update may happen, the rollout.
func TestStatusShowsLastCheck(t *testing.T) {
	c := &core{}
	var st UpdateStatus
	c.checkStatus(&st)
	if !st.NextCheck.IsZero() || st.Rollout != nil {
		t.Fatalf("before a check: %+v", st)
	}
	opens := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	next := opens.Add(3 * time.Hour)
	c.onCheck(&selfupdate.Plan{NextAllowed: opens, Rollout: &manifest.RolloutStatus{OpensAt: opens, Position: 42.5, Wave: 1}}, next)
	c.checkStatus(&st)
	if !st.NextCheck.Equal(next) || !st.NextAllowed.Equal(opens) || st.Rollout == nil || st.Rollout.Position != 42.5 {
		t.Errorf("status %+v", st)
	}
	var out strings.Builder
	printUpdateWhen(&out, st)
	if want := "  next check 2026-12-03T03:00:00Z, update allowed from 2026-12-03T00:00:00Z, rollout opens for this agent 2026-12-03T00:00:00Z\n"; out.String() != want {
		t.Errorf("status line %q, want %q", out.String(), want)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"nextAllowed":"2026-12-03T00:00:00Z"`) || !strings.Contains(string(b), `"rollout":{"open":false,"opensAt":"2026-12-03T00:00:00Z","position":42.5,"wave":1`) {
		t.Errorf("status JSON %s", b)
	}
	c.onCheck(nil, next) // a failed check: only the next one is known
	st = UpdateStatus{}
	c.checkStatus(&st)
	if !st.NextCheck.Equal(next) || st.Rollout != nil || !st.NextAllowed.IsZero() {
		t.Errorf("after a failed check: %+v", st)
	}
}
