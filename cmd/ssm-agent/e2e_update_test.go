//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/internal/fakecloudwatch"
	"github.com/ssmkit/ssmkit/manifest"
)

// releases serves a manifest and packages on loopback, as a custom
// distribution's bucket would.
type releases struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
}

func newReleases(t testing.TB) *releases {
	r := &releases{files: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		b, ok := r.files[req.URL.Path]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		http.ServeContent(w, req, req.URL.Path, time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// packageFile is the manifest file name of this host's package.
func packageFile(t testing.TB) string {
	p, err := manifest.DetectPlatform("")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("amazon-ssm-agent-%s-%s.tar.gz", p.Name, runtime.GOARCH)
}

// publish offers target as the update of deprecated 3.1.0.0: pkg is served,
// and the manifest gives checksum (pkg's own when "").
func (r *releases) publish(t testing.TB, target string, pkg []byte, checksum string) {
	if checksum == "" {
		checksum = sha(pkg)
	}
	file := packageFile(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files["/amazon-ssm-agent/"+target+"/"+file] = pkg
	r.files["/ssm-agent-manifest.json"] = fmt.Appendf(nil, `{"SchemaVersion": "1.0",
  "UriFormat": %q,
  "Packages": [{"Name": "amazon-ssm-agent", "Files": [{"Name": %q, "AvailableVersions": [
    {"Version": "3.1.0.0", "CheckSum": %q, "Status": "Deprecated"},
    {"Version": %q, "CheckSum": %q, "Status": "Active"}]}]}]}`,
		r.srv.URL+"/{PackageName}/{PackageVersion}/{FileName}", file, sha([]byte("3.1.0.0")), target, checksum)
}

func (r *releases) manifestURL() string { return r.srv.URL + "/ssm-agent-manifest.json" }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// agentPackage is a package whose root holds executable as ssm-agent.
func agentPackage(t testing.TB, executable []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "ssm-agent", Mode: 0o755, Size: int64(len(executable)), Typeflag: tar.TypeReg})
	tw.Write(executable)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// updateConfigJSON is the configuration of the update tests.
func updateConfigJSON(manifestURL string, healthTimeout int) string {
	return fmt.Sprintf(`{"SelfUpdate": {"ManifestURL": %q, "HealthTimeoutSeconds": %d},
  "Workers": [{"Name": "ssm-agent-worker", "HealthIntervalSeconds": 1}]}`, manifestURL, healthTimeout)
}

func (a *agent) current() string {
	link, _ := os.Readlink(filepath.Join(a.dir, "install", "current"))
	return filepath.Base(link)
}

func TestAgentSelfUpdate(t *testing.T) {
	old := agentBinary(t, "3.1.0.0")
	newBin, err := os.ReadFile(agentBinary(t, "3.2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	good := agentPackage(t, newBin)

	t.Run("good", func(t *testing.T) {
		t.Parallel()
		r := newReleases(t)
		r.publish(t, "3.2.0.0", good, "")
		a := newAgent(t, old, updateConfigJSON(r.manifestURL(), 60))
		a.start()
		before := a.waitHealthy("3.1.0.0", 10*time.Second)
		out, errOut, err := a.run("update", "--now")
		if err != nil || !strings.Contains(out, "updated 3.1.0.0 to 3.2.0.0: UpdateSucceeded_SelfUpdate-3.2.0.0") {
			t.Fatalf("update --now = %v\nstdout: %s\nstderr: %s\ncore: %s", err, out, errOut, a.output())
		}
		// The handover execs the new version in place: the same process,
		// never a moment without a core.
		select {
		case err := <-a.done:
			t.Errorf("the core exited (%v) at the handover; want it to exec the new version", err)
			a.done = nil
		default:
		}
		st := a.waitHealthy("3.2.0.0", 30*time.Second)
		if st.Update.LastResult != "UpdateSucceeded_SelfUpdate-3.2.0.0" || st.Update.Phase != "committed" {
			t.Errorf("status after the update: %+v", st.Update)
		}
		if st.PID != before.PID {
			t.Errorf("core pid %d after the update, want %d (exec in place)", st.PID, before.PID)
		}
		newExe := filepath.Join(a.dir, "install", "versions", "3.2.0.0", "ssm-agent")
		a.waitFor("the worker restarted on the new binary", 20*time.Second, func() (bool, string) {
			st, err := a.status()
			if err != nil {
				return false, err.Error()
			}
			w := st.Workers[0]
			return w.Executable == newExe && w.Ready, fmt.Sprintf("%+v", w)
		})
		a.waitFor("the result in the audit log", 10*time.Second, func() (bool, string) {
			return a.auditHas("agent_update_result UpdateSucceeded_SelfUpdate-3.2.0.0 3.1.0.0 "), strings.Join(a.audit(), "\n")
		})
		if c := a.current(); c != "3.2.0.0" {
			t.Errorf("current = %s, want 3.2.0.0", c)
		}
		if n := len(a.workers()); n != 1 {
			t.Errorf("%d worker processes, want 1: %v", n, a.processes())
		}
		out, _, _ = a.run("update", "--now")
		if !strings.Contains(out, "no update") {
			t.Errorf("update --now on the latest version: %q", out)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		t.Parallel()
		r := newReleases(t)
		tampered := append(slices.Clone(good[:len(good)-64]), bytes.Repeat([]byte{'x'}, 64)...)
		r.publish(t, "3.2.0.0", tampered, sha(good))
		a := newAgent(t, old, updateConfigJSON(r.manifestURL(), 60))
		a.start()
		before := a.waitHealthy("3.1.0.0", 10*time.Second)
		out, errOut, err := a.run("update", "--now")
		const want = "UpdateFailed_SelfUpdate_ErrorTargetPkgDownload-3.2.0.0"
		if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "checksum") {
			t.Fatalf("update --now of a tampered package = %v\nstdout: %s\nstderr: %s", err, out, errOut)
		}
		st := a.waitHealthy("3.1.0.0", 10*time.Second)
		if st.PID != before.PID || st.Workers[0].PID != before.Workers[0].PID {
			t.Errorf("the core or worker changed: before %d/%d, after %d/%d", before.PID, before.Workers[0].PID, st.PID, st.Workers[0].PID)
		}
		if st.Update.LastResult != want {
			t.Errorf("status: last result %q, want %q", st.Update.LastResult, want)
		}
		a.waitFor("the failure in the audit log", 10*time.Second, func() (bool, string) {
			return a.auditHas("agent_update_result " + want + " 3.1.0.0 "), strings.Join(a.audit(), "\n")
		})
		if c := a.current(); c != "3.1.0.0" {
			t.Errorf("current = %s, want 3.1.0.0", c)
		}
		if _, err := os.Stat(filepath.Join(a.dir, "install", "versions", "3.2.0.0")); !os.IsNotExist(err) {
			t.Errorf("versions/3.2.0.0 exists after a failed download: %v", err)
		}
	})

	t.Run("cannot-start", func(t *testing.T) {
		t.Parallel()
		r := newReleases(t)
		r.publish(t, "3.2.0.0", agentPackage(t, []byte("#!/bin/sh\necho this version cannot start >&2\nexit 3\n")), "")
		a := newAgent(t, old, updateConfigJSON(r.manifestURL(), 4))
		a.start()
		before := a.waitHealthy("3.1.0.0", 10*time.Second)
		out, errOut, err := a.run("update", "--now")
		const want = "UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-3.2.0.0"
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("update --now to a version that cannot start = %v\nstdout: %s\nstderr: %s", err, out, errOut)
		}
		// A binary that cannot even say its version is found before the
		// handover: the old core never stops, nor its worker.
		st := a.waitHealthy("3.1.0.0", 30*time.Second)
		if st.PID != before.PID || st.Workers[0].PID != before.Workers[0].PID {
			t.Errorf("the core or worker was restarted: before %d/%d, after %d/%d", before.PID, before.Workers[0].PID, st.PID, st.Workers[0].PID)
		}
		if n := len(a.workers()); n != 1 {
			t.Errorf("%d workers, want 1: %v", n, a.processes())
		}
		a.waitFor("the rollback in the audit log", 10*time.Second, func() (bool, string) {
			return a.auditHas("agent_update_result " + want + " 3.1.0.0 "), strings.Join(a.audit(), "\n")
		})
		if c := a.current(); c != "3.1.0.0" {
			t.Errorf("current = %s, want 3.1.0.0", c)
		}
	})
}

func TestAgentCloudWatch(t *testing.T) {
	t.Parallel()
	cw := fakecloudwatch.New()
	defer cw.Close()
	const group, instance = "ssm-agent-e2e", "i-0123456789abcdef0"
	config := fmt.Sprintf(`{"Agent": {"Region": "us-east-1", "TelemetryMetricsToCloudWatch": true},
  "Telemetry": {"CloudWatchLogsGroup": %q, "InstanceId": %q}}`, group, instance)
	a := newAgent(t, agentBinary(t, "3.1.0.0"), config,
		"AWS_ENDPOINT_URL_CLOUDWATCH="+cw.URL, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS="+cw.URL)
	a.start()
	a.waitFor("both start events in CloudWatch Logs", 20*time.Second, func() (bool, string) {
		var got []string
		for _, e := range cw.LogEvents(group, instance) {
			got = append(got, e.Message)
		}
		all := strings.Join(got, "\n")
		return strings.Contains(all, "amazon-ssm-agent.start") && strings.Contains(all, "ssm-agent-worker.start"), all
	})
	a.waitFor("both start metrics in CloudWatch", 20*time.Second, func() (bool, string) {
		names := map[string]bool{}
		for _, d := range cw.Datums() {
			if d.Namespace == "amazon-ssm-agent-telemetry" && d.Dimensions["InstanceId"] == instance && d.Dimensions["AgentVersion"] == "3.1.0.0" {
				names[d.MetricName] = true
			}
		}
		return names["amazon-ssm-agent.start"] && names["ssm-agent-worker.start"], fmt.Sprint(cw.Datums())
	})
	st, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	var sinks []string
	for _, s := range st.Telemetry {
		sinks = append(sinks, s.Sink)
	}
	if len(sinks) != 4 {
		t.Errorf("telemetry sinks %v, want audit, ssm, and the two CloudWatch ones", sinks)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
}
