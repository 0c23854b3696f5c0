//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// withRollout adds a rollout to the target of the manifest r serves.
func (r *releases) withRollout(t *testing.T, target, rollout string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := string(r.files["/ssm-agent-manifest.json"])
	i := strings.LastIndex(m, `"Status": "Active"`)
	if i < 0 || !strings.Contains(m, target) {
		t.Fatalf("no Active %s in %s", target, m)
	}
	r.files["/ssm-agent-manifest.json"] = []byte(m[:i] + `"Status": "Active", "Rollout": ` + rollout + m[i+len(`"Status": "Active"`):])
}

// TestAgentRolloutAndWindow: with the maintenance window closed, update
// --check says when the update is allowed and update --now takes it all
// the same (the operator's override); a paused release is taken by no
// update --now.
func TestAgentRolloutAndWindow(t *testing.T) {
	old := agentBinary(t, "3.1.0.0")
	newBin, err := os.ReadFile(agentBinary(t, "3.2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	good := agentPackage(t, newBin)
	// A one-minute window half a day away: closed now.
	opens := time.Now().UTC().Add(12 * time.Hour).Truncate(time.Minute)
	window := fmt.Sprintf(`"MaintenanceWindow": {"Start": %q, "DurationMinutes": 1, "TimeZone": "UTC"}`, opens.Format("15:04"))
	start := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)

	t.Run("now-overrides-the-window", func(t *testing.T) {
		t.Parallel()
		r := newReleases(t)
		r.publish(t, "3.2.0.0", good, "")
		r.withRollout(t, "3.2.0.0", `{"Start": "`+start+`", "Waves": [{"Percent": 100, "AfterHours": 0}]}`)
		cfg := strings.Replace(updateConfigJSON(r.manifestURL(), 60), `"SelfUpdate": {`, `"SelfUpdate": {`+window+`, `, 1)
		a := newAgent(t, old, cfg)
		out, errOut, err := a.run("update", "--check", "--json", "--version", "3.1.0.0")
		var check struct {
			Action      string
			Allowed     bool
			NextAllowed time.Time
			Rollout     *struct{ Open bool }
		}
		if err != nil || json.Unmarshal([]byte(out), &check) != nil {
			t.Fatalf("update --check = %v\n%s%s", err, out, errOut)
		}
		if check.Action != "update" || check.Allowed || !check.NextAllowed.Equal(opens) || check.Rollout == nil || !check.Rollout.Open {
			t.Errorf("update --check with the window closed: %s (want nextAllowed %s)", out, opens.Format(time.RFC3339))
		}
		a.start()
		a.waitHealthy("3.1.0.0", 10*time.Second)
		out, errOut, err = a.run("update", "--now")
		if err != nil || !strings.Contains(out, "updated 3.1.0.0 to 3.2.0.0") {
			t.Fatalf("update --now outside the window = %v\nstdout: %s\nstderr: %s\ncore: %s", err, out, errOut, a.output())
		}
		a.waitHealthy("3.2.0.0", 30*time.Second)
	})

	t.Run("paused-is-never-taken", func(t *testing.T) {
		t.Parallel()
		r := newReleases(t)
		r.publish(t, "3.2.0.0", good, "")
		r.withRollout(t, "3.2.0.0", `{"Start": "`+start+`", "Waves": [{"Percent": 100, "AfterHours": 0}], "Paused": true}`)
		a := newAgent(t, old, updateConfigJSON(r.manifestURL(), 60))
		a.start()
		before := a.waitHealthy("3.1.0.0", 10*time.Second)
		out, errOut, err := a.run("update", "--now")
		if err != nil || !strings.Contains(out, "no update") {
			t.Fatalf("update --now of a paused release = %v\nstdout: %s\nstderr: %s", err, out, errOut)
		}
		st := a.waitHealthy("3.1.0.0", 10*time.Second)
		if st.PID != before.PID || a.current() == "3.2.0.0" {
			t.Errorf("a paused release was taken: %+v, current %s", st.Update, a.current())
		}
	})
}
