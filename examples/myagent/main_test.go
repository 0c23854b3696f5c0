//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/selfupdate/handover"
)

// build compiles myagent at version v.
func build(t *testing.T, v string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "myagent")
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+v, "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// release writes a manifest offering 2.0.0 (1.0.0 deprecated) with a
// package holding binary as myagent, and returns its file:// URL.
func release(t *testing.T, binary []byte) string {
	t.Helper()
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "myagent", Mode: 0o755, Size: int64(len(binary)), Typeflag: tar.TypeReg})
	tw.Write(binary)
	tw.Close()
	zw.Close()
	file := "myagent-linux-" + runtime.GOARCH + ".tar.gz"
	os.WriteFile(filepath.Join(dir, file), buf.Bytes(), 0o644)
	sum := sha256.Sum256(buf.Bytes())
	m := fmt.Sprintf(`{"SchemaVersion": "1.0", "UriFormat": "file://%s/{FileName}", "Packages": [{"Name": "myagent", "Files": [
	  {"Name": %q, "AvailableVersions": [{"Version": "1.0.0", "CheckSum": "%s", "Status": "Deprecated"},
	    {"Version": "2.0.0", "CheckSum": "%s", "Status": "Active"}]}]}]}`, dir, file, strings.Repeat("0", 64), hex.EncodeToString(sum[:]))
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(m), 0o644)
	return "file://" + filepath.Join(dir, "manifest.json")
}

// run starts the 1.0.0 core on its own tree and waits until it reports
// want and no update is under way, then returns the core's and the
// worker's status and the audit lines.
func run(t *testing.T, manifestURL, want string) (handover.Status, []string) {
	t.Helper()
	dir := t.TempDir()
	core := exec.Command(build(t, "1.0.0"), "-dir", dir, "-manifest", manifestURL, "-first-check", "300ms", "-health-timeout", "8s")
	var out bytes.Buffer
	core.Stdout, core.Stderr = &out, &out
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		core.Process.Signal(os.Interrupt)
		core.Wait()
		// The guardian and the worker of a test must not outlive it.
		exec.Command("pkill", "-KILL", "-f", dir).Run()
	})
	c := handover.Dial(filepath.Join(dir, "state", "control.sock"))
	var st handover.Status
	var audit []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		st, err = c.Status(context.Background())
		audit = auditLines(dir)
		if err == nil && st.Version == want && st.Healthy && strings.Contains(strings.Join(audit, "\n"), "agent_update_result ") {
			return st, audit
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healthy %s with a result: %+v %v\naudit: %q\n%s", want, st, err, audit, out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the core's socket, bounded by the deadline
	}
}

func auditLines(dir string) []string {
	var lines []string
	files, _ := filepath.Glob(filepath.Join(dir, "log", "audit", "myagent-audit-*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	return lines
}

func TestMyAgentUpdates(t *testing.T) {
	newBin, err := os.ReadFile(build(t, "2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	st, audit := run(t, release(t, newBin), "2.0.0")
	if !strings.Contains(strings.Join(audit, "\n"), "agent_update_result UpdateSucceeded_SelfUpdate-2.0.0") {
		t.Errorf("audit: %q", audit)
	}
	if err := syscall.Kill(st.PID, 0); err != nil {
		t.Errorf("the core %d does not run: %v", st.PID, err)
	}
}

func TestMyAgentRollsBackABrokenVersion(t *testing.T) {
	broken := []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo 2.0.0; exit 0; fi\nexit 3\n")
	_, audit := run(t, release(t, broken), "1.0.0")
	if !strings.Contains(strings.Join(audit, "\n"), "agent_update_result UpdateFailed_SelfUpdate_InstallRollback_") {
		t.Errorf("audit: %q", audit)
	}
}
