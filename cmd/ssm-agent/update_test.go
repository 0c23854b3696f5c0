package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeygenSignAndCheck(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "release")
	if status, out, errOut := runCLI(t, "", "keygen", "--out", name); status != 0 || !strings.Contains(out, name+".pub") {
		t.Fatalf("keygen = %d, %q, %q", status, out, errOut)
	}
	if fi, err := os.Stat(name + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, %v", err, fi.Mode())
	}
	if status, _, errOut := runCLI(t, "", "keygen", "--out", name); status != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("keygen over existing keys = %d, %q", status, errOut)
	}

	fixture, _ := os.ReadFile(withStatus)
	signed := strings.Replace(string(fixture), `"SchemaVersion": "1.0",`,
		`"SchemaVersion": "1.0", "ManifestVersion": 3, "Expires": "`+time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339)+`",`, 1)
	m := filepath.Join(dir, "ssm-agent-manifest.json")
	os.WriteFile(m, []byte(signed), 0o644)
	if status, out, errOut := runCLI(t, "", "manifest", "sign", "--key", name+".key", "--manifest", m); status != 0 || !strings.Contains(out, m+".sig") {
		t.Fatalf("manifest sign = %d, %q, %q", status, out, errOut)
	}
	if status, _, errOut := runCLI(t, "", "manifest", "sign", "--key", name+".key", "--manifest", withStatus); status != 1 || !strings.Contains(errOut, "ManifestVersion") {
		t.Errorf("signing a manifest without trust fields = %d, %q", status, errOut)
	}

	check := []string{"update", "--check", "--manifest-url", "file://" + m, "--public-key", name + ".pub",
		"--version", "2.0.822.0", "--platform", "linux", "--arch", "amd64", "--data-dir", filepath.Join(dir, "data"), "--json"}
	status, out, errOut := runCLI(t, "", check...)
	if status != 0 {
		t.Fatalf("update --check = %d, %q", status, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got["action"] != "update" || got["target"].(map[string]any)["version"] != "2.2.96.0" || got["manifest_url"] != "file://"+m {
		t.Errorf("plan %s", out)
	}
	// Tampered after signing.
	os.WriteFile(m, []byte(strings.Replace(signed, `"Deprecated"`, `"Active"`, 1)), 0o644)
	if status, _, errOut := runCLI(t, "", check...); status != 1 || !strings.Contains(errOut, "signature") {
		t.Errorf("tampered manifest = %d, %q", status, errOut)
	}
}

func TestUpdateUsage(t *testing.T) {
	if status, _, errOut := runCLI(t, "", "update"); status != 2 || !strings.Contains(errOut, "--check or --now is required") {
		t.Errorf("update = %d, %q", status, errOut)
	}
	if status, _, errOut := runCLI(t, "", "update", "--check", "--region", "no/way"); status != 2 || !strings.Contains(errOut, "--region") {
		t.Errorf("bad region = %d, %q", status, errOut)
	}
	if status, _, errOut := runCLI(t, "", "manifest", "sign"); status != 2 || !strings.Contains(errOut, "--key and --manifest are required") {
		t.Errorf("manifest sign = %d, %q", status, errOut)
	}
}
