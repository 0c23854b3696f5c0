package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rolloutManifest = `{"SchemaVersion":"1.0","UriFormat":"https://releases.example.com/{PackageName}/{PackageVersion}/{FileName}",
 "Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[
 {"Version":"3.1.0.0","CheckSum":"84fc818a7e21068c47412ddd18d3748a04a16b8f8836a259191920f854c4edc7","Status":"Deprecated"},
 {"Version":"3.2.0.0","CheckSum":"8dcb1072b7b0669b1de53163eb0eec322ceabd7f08fff395d73240ec633181bf","Status":"Active",
  "Rollout":{"Start":"2027-03-01T00:00:00Z","Waves":[{"Percent":1,"AfterHours":0},{"Percent":10,"AfterHours":24},{"Percent":100,"AfterHours":72}],
   "Groups":[{"Name":"canary","AfterHours":0},{"Name":"prod","AfterHours":48}],"Paused":PAUSED}}]}]}]}`

func writeRolloutManifest(t *testing.T, paused bool) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.json")
	body := strings.Replace(rolloutManifest, "PAUSED", map[bool]string{true: "true", false: "false"}[paused], 1)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type rolloutCheck struct {
	Action  string       `json:"action"`
	Target  *checkTarget `json:"target"`
	Rollout *rolloutJSON `json:"rollout"`
}

func TestManifestCheckRollout(t *testing.T) {
	open, paused := writeRolloutManifest(t, false), writeRolloutManifest(t, true)
	base := []string{"manifest", "check", "--version", "3.1.0.0", "--platform", "linux", "--arch", "amd64", "--json"}
	for _, tc := range []struct {
		name     string
		manifest string
		args     []string
		action   string
		open     bool
		opensAt  string
		group    string
	}{
		{"canary at start", open, []string{"--group", "canary", "--at", "2027-03-01T00:00:00Z"}, "update", true, "2027-03-01T00:00:00Z", "canary"},
		{"prod before its time", open, []string{"--group", "prod", "--at", "2027-03-02T23:59:59Z"}, "none", false, "2027-03-03T00:00:00Z", "prod"},
		{"prod at its time", open, []string{"--group", "prod", "--at", "2027-03-03T00:00:00+00:00"}, "update", true, "2027-03-03T00:00:00Z", "prod"},
		{"no id before the last wave", open, []string{"--at", "2027-03-03T23:00:00Z"}, "none", false, "2027-03-04T00:00:00Z", ""},
		{"no id after the last wave", open, []string{"--at", "2027-03-04T00:00:00Z"}, "update", true, "2027-03-04T00:00:00Z", ""},
		{"paused", paused, []string{"--group", "canary", "--at", "2027-03-05T00:00:00Z"}, "none", true, "2027-03-01T00:00:00Z", "canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{}, base...), "--manifest", tc.manifest), tc.args...)
			status, out, errOut := runCLI(t, "", args...)
			if status != 0 {
				t.Fatalf("status %d: %s", status, errOut)
			}
			var got rolloutCheck
			if err := json.Unmarshal([]byte(out), &got); err != nil || got.Rollout == nil {
				t.Fatalf("output %q: %v", out, err)
			}
			r := got.Rollout
			if got.Action != tc.action || r.Open != tc.open || r.OpensAt != tc.opensAt || r.Group != tc.group || r.Paused != (tc.manifest == paused) {
				t.Errorf("got action %s %+v; want %s open %v opensAt %s group %q", got.Action, *r, tc.action, tc.open, tc.opensAt, tc.group)
			}
			if got.Target == nil || got.Target.Version != "3.2.0.0" {
				t.Errorf("target %+v, want 3.2.0.0", got.Target)
			}
			for _, key := range []string{`"open"`, `"opensAt"`, `"position"`, `"wave"`, `"group"`, `"paused"`, `"reason"`} {
				if !strings.Contains(out, key) {
					t.Errorf("rollout object lacks %s: %s", key, out)
				}
			}
		})
	}
	// The position is stable for an instance id and in [0, 100).
	args := append(append([]string{}, base...), "--manifest", open, "--instance-id", "i-0123456789abcdef0")
	_, a, _ := runCLI(t, "", args...)
	_, b, _ := runCLI(t, "", args...)
	var ra, rb rolloutCheck
	if json.Unmarshal([]byte(a), &ra) != nil || json.Unmarshal([]byte(b), &rb) != nil || ra.Rollout == nil ||
		ra.Rollout.Position != rb.Rollout.Position || ra.Rollout.Position < 0 || ra.Rollout.Position >= 100 || ra.Rollout.Wave < 0 {
		t.Errorf("positions %s / %s", a, b)
	}
	// No Rollout: no rollout object.
	_, out, _ := runCLI(t, "", "manifest", "check", "--manifest", withStatus, "--version", "2.0.822.0", "--platform", "linux", "--arch", "amd64", "--json")
	if strings.Contains(out, `"rollout"`) {
		t.Errorf("a manifest without rollouts printed one: %s", out)
	}
}

func TestManifestCheckRolloutUsage(t *testing.T) {
	m := writeRolloutManifest(t, false)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--at", "tomorrow"}, `--at "tomorrow"`},
		{[]string{"--group", "no/slash"}, "--group"},
	} {
		args := append([]string{"manifest", "check", "--manifest", m, "--version", "3.1.0.0", "--platform", "linux", "--arch", "amd64"}, tc.args...)
		if status, _, errOut := runCLI(t, "", args...); status != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q = %d, %q; want 2 naming %s", tc.args, status, errOut, tc.want)
		}
	}
	// A start more than a year ahead of --at is an error naming the field.
	status, _, errOut := runCLI(t, "", "manifest", "check", "--manifest", m, "--version", "3.1.0.0", "--platform", "linux", "--arch", "amd64", "--at", "2025-01-01T00:00:00Z")
	if status != 1 || !strings.Contains(errOut, "Rollout.Start") {
		t.Errorf("far start: %d, %q", status, errOut)
	}
}
