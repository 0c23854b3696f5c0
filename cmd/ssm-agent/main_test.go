package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	withStatus = "../../manifest/testdata/ssm/head/sampleManifestWithStatus.json"
	oldStatus  = "../../manifest/testdata/ssm/v3.0.151.0/sampleManifestWithStatus.json"
	sample     = "../../manifest/testdata/ssm/head/sampleManifest.json"
	errorMan   = "../../manifest/testdata/ssm/head/errorManifest.json"
	ec2config  = "../../manifest/testdata/ssm/ec2config/testManifest.json"
)

// runCLI runs the command line in process and returns its exit status and
// outputs.
func runCLI(t *testing.T, stdin string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(args, strings.NewReader(stdin), &out, &errOut)
	return status, out.String(), errOut.String()
}

func TestVersionCommand(t *testing.T) {
	status, out, errOut := runCLI(t, "", "version")
	if status != 0 || out != "0.0.0.0\n" || errOut != "" {
		t.Errorf("version = %d, %q, %q; want 0, \"0.0.0.0\\n\"", status, out, errOut)
	}
	if status, _, _ := runCLI(t, "", "version", "extra"); status != 2 {
		t.Errorf("version extra: status %d, want 2", status)
	}
}

// TestVersionLdflags builds the binary as a release would and runs it.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "ssm-agent")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gotool, "build", "-ldflags", "-X main.version=3.1.0.0", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || string(out) != "3.1.0.0\n" {
		t.Fatalf("ssm-agent version = %q, %v; want 3.1.0.0", out, err)
	}
	// The built-in version is the default of manifest check --version.
	cmd := exec.Command(bin, "manifest", "check", "--manifest", withStatus, "--platform", "linux", "--arch", "amd64", "--json")
	out, err = cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(ee.Stderr), `"3.1.0.0"`) {
		t.Fatalf("manifest check with the built-in version 3.1.0.0 (absent from the manifest): %q, %v", out, err)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"manifest"}, 2, `unknown command "manifest"`},
		{[]string{"manifest", "sing"}, 2, `unknown command "manifest sing"`},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"status", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"--data-dir"}, 2, "flag needs an argument: -data-dir"},
		{[]string{"manifest", "check", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"manifest", "check"}, 2, "--manifest is required"},
		{[]string{"manifest", "check", "--manifest", withStatus, "stray"}, 2, `unexpected argument "stray"`},
		{[]string{"manifest", "check", "--manifest", withStatus, "--version", "2.x"}, 2, `--version: invalid version "2.x"`},
		{[]string{"manifest", "check", "--manifest", withStatus, "--version", "1.0", "--region", "us east"}, 2, "--region: invalid region"},
		{[]string{"manifest", "check", "--manifest", withStatus, "--json=maybe"}, 2, "invalid boolean value"},
	}
	for _, tt := range tests {
		status, out, errOut := runCLI(t, "", tt.args...)
		if status != tt.status || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("ssm-agent %q = %d, stderr %q; want %d and %q", tt.args, status, errOut, tt.status, tt.stderr)
		}
		if out != "" {
			t.Errorf("ssm-agent %q wrote to stdout: %q", tt.args, out)
		}
		if tt.status == 2 && !strings.Contains(errOut, "Usage:") {
			t.Errorf("ssm-agent %q: usage error without usage: %q", tt.args, errOut)
		}
	}
	for _, help := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if status, out, _ := runCLI(t, "", help...); status != 0 || !strings.Contains(out, "manifest check") {
			t.Errorf("ssm-agent %q = %d, %q; want usage on stdout", help, status, out)
		}
	}
	if status, _, errOut := runCLI(t, "", "manifest", "check", "-h"); status != 0 || !strings.Contains(errOut, "--allow-downgrade") {
		t.Errorf("manifest check -h = %d, %q", status, errOut)
	}
}

// checkJSON decodes exactly one JSON object from out, with its keys in the
// documented order.
func checkJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output %q is not a JSON object: %v", out, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("output %q holds more than one JSON value", out)
	}
	keys := []string{`"package"`, `"file"`, `"current"`, `"target"`, `"action"`, `"reason"`}
	last := -1
	for _, k := range keys {
		i := strings.Index(out, k)
		if i <= last {
			t.Fatalf("output %q: key %s missing or out of order", out, k)
		}
		last = i
	}
	return v
}

func TestManifestCheckJSON(t *testing.T) {
	target := func(version, status, sum, url string) map[string]any {
		return map[string]any{"version": version, "status": status, "checksum": sum, "url": url}
	}
	tests := []struct {
		name string
		args []string
		want map[string]any
	}{
		{"deprecated updates", []string{"--manifest", withStatus, "--version", "2.0.822.0", "--platform", "linux", "--arch", "amd64"},
			map[string]any{
				"package": "amazon-ssm-agent", "file": "amazon-ssm-agent-linux-amd64.tar.gz",
				"current": map[string]any{"version": "2.0.822.0", "status": "Deprecated"},
				"target": target("2.2.96.0", "Active", "2137c6c149711c3a3ea53aed7d2167bfc9049d9388e36d19f2f400a6fdeac312",
					"https://s3.amazonaws.com/some-agent-bucket/amazon-ssm-agent/2.2.96.0/amazon-ssm-agent-linux-amd64.tar.gz"),
				"action": "update",
			}},
		{"active stays", []string{"--manifest", withStatus, "--version", "2.2.96.0", "--platform", "linux", "--arch", "amd64"},
			map[string]any{
				"package": "amazon-ssm-agent", "file": "amazon-ssm-agent-linux-amd64.tar.gz",
				"current": map[string]any{"version": "2.2.96.0", "status": "Active"},
				"target":  nil, "action": "none",
			}},
		{"empty status reads Active", []string{"--manifest", withStatus, "--version", "1.2.251.0", "--platform", "linux", "--arch", "amd64"},
			map[string]any{
				"package": "amazon-ssm-agent", "file": "amazon-ssm-agent-linux-amd64.tar.gz",
				"current": map[string]any{"version": "1.2.251.0", "status": "Active"},
				"target":  nil, "action": "none",
			}},
		{"no downgrade", []string{"--manifest", withStatus, "--version", "2.2.96.0", "--platform", "linux", "--arch", "arm64"},
			map[string]any{
				"package": "amazon-ssm-agent", "file": "amazon-ssm-agent-linux-arm64.tar.gz",
				"current": map[string]any{"version": "2.2.96.0", "status": "Deprecated"},
				"target":  nil, "action": "none",
			}},
		{"downgrade allowed", []string{"--manifest", withStatus, "--version", "2.2.96.0", "--platform", "linux", "--arch", "arm64", "--allow-downgrade", "--region", "eu-west-1"},
			map[string]any{
				"package": "amazon-ssm-agent", "file": "amazon-ssm-agent-linux-arm64.tar.gz",
				"current": map[string]any{"version": "2.2.96.0", "status": "Deprecated"},
				"target": target("2.0.796.0", "Active", "3605bc636b12ec48e6dd7d18cb6b00c386e7edabc2e38306cb28a7a289513f9a",
					"https://s3.amazonaws.com/some-agent-bucket/amazon-ssm-agent/2.0.796.0/amazon-ssm-agent-linux-arm64.tar.gz"),
				"action": "update",
			}},
		// The updater's latest Active 2.2.93.0 is older than 2.2.120.0.
		{"windows zip, updater", []string{"--manifest", withStatus, "--package", "amazon-ssm-agent-updater", "--version", "2.2.120.0", "--platform", "windows", "--arch", "amd64"},
			map[string]any{
				"package": "amazon-ssm-agent-updater", "file": "amazon-ssm-agent-updater-windows-amd64.zip",
				"current": map[string]any{"version": "2.2.120.0", "status": "Deprecated"},
				"target":  nil, "action": "none",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"manifest", "check", "--json"}, tt.args...)
			status, out, errOut := runCLI(t, "", args...)
			if status != 0 || errOut != "" {
				t.Fatalf("status %d, stderr %q", status, errOut)
			}
			got := checkJSON(t, out)
			if reason, _ := got["reason"].(string); reason == "" || strings.Contains(reason, "\n") {
				t.Errorf("reason %q: want one sentence", reason)
			}
			delete(got, "reason")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("JSON mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestManifestCheckFailures(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.json")
	tests := []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"bad manifest", []string{"--manifest", errorMan, "--version", "1.0.2.0"}, []string{errorMan, "UriFormat: empty"}},
		{"ec2config manifest", []string{"--manifest", ec2config}, []string{"EC2Config manifest"}},
		{"missing manifest file", []string{"--manifest", missing}, []string{missing}},
		{"unknown version", []string{"--manifest", withStatus, "--version", "9.9.9.9", "--platform", "linux"}, []string{`version not found: "9.9.9.9"`}},
		{"unknown status", []string{"--manifest", withStatus, "--version", "1.1.0.0", "--platform", "linux"}, []string{`unknown status "Foo"`}},
		{"missing file", []string{"--manifest", oldStatus, "--version", "2.0.822.0", "--platform", "linux", "--arch", "arm64"},
			[]string{`file not found: "amazon-ssm-agent-linux-arm64.tar.gz"`}},
		{"missing package", []string{"--manifest", sample, "--version", "1.1.0.0", "--package", "nope"}, []string{`package not found: "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"manifest", "check", "--json"}, tt.args...)
			status, out, errOut := runCLI(t, "", args...)
			if status != 1 || out != "" {
				t.Errorf("status %d, stdout %q; want 1 and nothing", status, out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "ssm-agent manifest check: ") {
				t.Errorf("stderr %q: want one line naming the command", errOut)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q does not say %q", errOut, s)
				}
			}
		})
	}
}

func TestManifestCheckHuman(t *testing.T) {
	status, out, _ := runCLI(t, "", "manifest", "check", "--manifest", withStatus, "--version", "2.0.822.0", "--platform", "linux", "--arch", "amd64")
	want := "amazon-ssm-agent-linux-amd64.tar.gz: update 2.0.822.0 (Deprecated) -> 2.2.96.0 (Active)\n" +
		"  current version 2.0.822.0 is Deprecated; 2.2.96.0 is the latest Active release\n" +
		"  url:    https://s3.amazonaws.com/some-agent-bucket/amazon-ssm-agent/2.2.96.0/amazon-ssm-agent-linux-amd64.tar.gz\n" +
		"  sha256: 2137c6c149711c3a3ea53aed7d2167bfc9049d9388e36d19f2f400a6fdeac312\n"
	if status != 0 || out != want {
		t.Errorf("status %d, output:\n%s\nwant:\n%s", status, out, want)
	}
	status, out, _ = runCLI(t, "", "manifest", "check", "--manifest", withStatus, "--version", "2.0.805.0", "--platform", "linux", "--arch", "amd64")
	if status != 0 || !strings.HasPrefix(out, "amazon-ssm-agent-linux-amd64.tar.gz: no update: 2.0.805.0 (Inactive)\n") {
		t.Errorf("status %d, output %q", status, out)
	}
}

func TestManifestCheckStdinAndDetectedPlatform(t *testing.T) {
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	// No --platform: the host's is detected; the sample has linux and
	// ubuntu files for amd64 and 386.
	status, out, errOut := runCLI(t, string(data), "manifest", "check", "--manifest", "-", "--version", "1.1.43.0", "--arch", "amd64", "--json")
	if runtime.GOOS != "linux" {
		t.Skip("the sample has only Linux files")
	}
	if status != 0 {
		t.Fatalf("status %d, stderr %q", status, errOut)
	}
	got := checkJSON(t, out)
	if f := got["file"]; f != "amazon-ssm-agent-linux-amd64.tar.gz" && f != "amazon-ssm-agent-ubuntu-amd64.tar.gz" {
		t.Errorf("file = %v, want the linux or ubuntu amd64 file", f)
	}
}
