//go:build linux

package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// guardians returns the pids of the agent's live update guardians.
func (a *agent) guardians() []int {
	var pids []int
	for pid, cmdline := range a.processes() {
		if strings.Contains(cmdline, "update guardian") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// journal reads the update journal.
func (a *agent) journal() selfupdate.Journal {
	u, err := selfupdate.New(selfupdate.Config{Current: manifest.MustParseVersion("1.0.0"), Platform: manifest.Platform{Name: "linux", Arch: "amd64"}, InstallDir: filepath.Join(a.dir, "install"), StateDir: filepath.Join(a.dir, "data", "update")})
	if err != nil {
		a.t.Fatal(err)
	}
	j, _ := u.Journal()
	return j
}

// resultLines returns the audit lines of update results.
func (a *agent) resultLines() []string {
	var lines []string
	for _, l := range a.audit() {
		if strings.HasPrefix(l, "agent_update_result ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestAgentUpdateSurvivesKills kills the guardian, the new core, or both
// one after the other, at moments of an update, with no service manager to
// restart anything: each run ends, within the health deadline, with a core
// on a complete version — the one current points at — and exactly one
// result recorded.
func TestAgentUpdateSurvivesKills(t *testing.T) {
	old := agentBinary(t, "3.1.0.0")
	newBin, err := os.ReadFile(agentBinary(t, "3.2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	pkg := agentPackage(t, newBin)
	const healthTimeout = 8
	for _, tt := range []struct {
		name string
		kill func(t *testing.T, a *agent)
	}{
		{"guardian-at-once", func(t *testing.T, a *agent) {
			a.kill(a.waitGuardian(nil))
		}},
		{"guardian-after-handover", func(t *testing.T, a *agent) {
			g := a.waitGuardian(nil)
			a.waitVersion("3.2.0.0")
			a.kill(g)
		}},
		{"new-core", func(t *testing.T, a *agent) {
			a.waitVersion("3.2.0.0")
			a.kill(a.cmd.Process.Pid)
		}},
		{"guardian-then-new-core", func(t *testing.T, a *agent) {
			g := a.waitGuardian(nil)
			a.waitVersion("3.2.0.0")
			a.kill(g)
			a.waitGuardian(map[int]bool{g: true}) // its replacement
			a.kill(a.cmd.Process.Pid)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReleases(t)
			r.publish(t, "3.2.0.0", pkg, "")
			a := newAgent(t, old, updateConfigJSON(r.manifestURL(), healthTimeout))
			a.start()
			if out, errOut, err := a.run("update", "--now", "--wait", "0"); err != nil || !strings.Contains(out, "updating 3.1.0.0 to 3.2.0.0") {
				t.Fatalf("update --now --wait 0 = %v\n%s%s", err, out, errOut)
			}
			killed := time.Now()
			tt.kill(t, a)
			var st Status
			a.waitFor("a healthy core on current with the update ended", (healthTimeout+20)*time.Second, func() (bool, string) {
				var err error
				if st, err = a.status(); err != nil {
					return false, err.Error()
				}
				j := a.journal()
				return st.Healthy && st.Version == a.current() && j.Finished() && len(a.resultLines()) > 0,
					fmt.Sprintf("core %s healthy=%v, current %s, journal %s %s, results %q", st.Version, st.Healthy, a.current(), j.Phase, j.Result, a.resultLines())
			})
			j := a.journal()
			if _, err := os.Stat(filepath.Join(a.dir, "install", "versions", st.Version, ".ssmkit-complete.json")); err != nil {
				t.Errorf("the running version %s is not complete: %v", st.Version, err)
			}
			want := "UpdateSucceeded_SelfUpdate-3.2.0.0"
			if st.Version == "3.1.0.0" {
				want = "UpdateFailed_SelfUpdate_InstallRollback_"
			}
			// Every process that could have recorded it has had time to.
			a.waitFor("the guardians gone", 20*time.Second, func() (bool, string) {
				return len(a.guardians()) == 0, fmt.Sprint(a.processes())
			})
			lines := a.resultLines()
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "agent_update_result "+want) || !strings.HasPrefix(j.Result, want) {
				t.Errorf("journal result %q; audit result lines %q; want exactly one %s…", j.Result, lines, want)
			}
			// The workers are restarted on the version that runs, one at a
			// time: one copy, ready, once that is done.
			a.waitFor("one worker, ready", 20*time.Second, func() (bool, string) {
				st, err := a.status()
				return err == nil && st.Healthy && len(a.workers()) == 1, fmt.Sprint(a.processes())
			})
			t.Logf("ended on %s (core %d, first %d), %s after the first kill; journal %+v", st.Version, st.PID, a.cmd.Process.Pid, time.Since(killed).Round(time.Millisecond), j)
		})
	}
}

// waitGuardian waits for a live guardian not in except and returns it.
func (a *agent) waitGuardian(except map[int]bool) int {
	a.t.Helper()
	var pid int
	a.waitFor("a guardian", 20*time.Second, func() (bool, string) {
		for _, g := range a.guardians() {
			if !except[g] {
				pid = g
				return true, ""
			}
		}
		return false, fmt.Sprint(a.processes())
	})
	return pid
}

// waitVersion waits until the core answers with version v.
func (a *agent) waitVersion(v string) {
	a.t.Helper()
	a.waitFor("the core on "+v, 20*time.Second, func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		return st.Version == v, st.Version
	})
}

func (a *agent) kill(pid int) {
	a.t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		a.t.Fatalf("kill %d: %v", pid, err)
	}
}

// TestAgentStartsAfterInterruptedUpdate starts the core over the journal
// an update killed before its switch leaves: it starts (no panic), aborts
// the update, and records its result once — also across a second start.
func TestAgentStartsAfterInterruptedUpdate(t *testing.T) {
	bin := agentBinary(t, "3.1.0.0")
	for _, phase := range []selfupdate.Phase{"downloading", "unpacking", "staging", "switching"} {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			a := newAgent(t, bin, "")
			state := filepath.Join(a.dir, "data", "update")
			os.MkdirAll(state, 0o700)
			b, _ := json.Marshal(selfupdate.Journal{Phase: phase, Source: "3.1.0.0", Target: "3.2.0.0", File: "f.tar.gz", Attempts: 1})
			if err := os.WriteFile(filepath.Join(state, "update.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			const want = "agent_update_result UpdateFailed_SelfUpdate_ErrorInstallFailed-3.2.0.0 3.1.0.0 "
			for start := range 2 {
				a.start()
				a.waitFor("the result in the audit log", 10*time.Second, func() (bool, string) {
					return a.auditHas(want), strings.Join(a.audit(), "\n")
				})
				if err := a.stop(); err != nil {
					t.Fatalf("start %d: the core exited with %v\n%s", start, err, a.output())
				}
				if strings.Contains(a.output(), "panic") {
					t.Fatalf("start %d: %s", start, a.output())
				}
			}
			if lines := a.resultLines(); len(lines) != 1 {
				t.Errorf("result lines %q, want one", lines)
			}
			if j := a.journal(); j.Phase != selfupdate.PhaseAborted {
				t.Errorf("journal %s, want aborted", j.Phase)
			}
		})
	}
}

// TestAgentControlRequestsBounded sends the control socket oversized and
// malformed bodies: each is refused with a short answer, and nothing of
// them reaches the log.
func TestAgentControlRequestsBounded(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), "")
	a.start()
	huge := `{"manifestURL": "` + strings.Repeat("A", 8<<20) + `"}`
	for _, tt := range []struct {
		path, body string
		status     int
	}{
		{"/update", huge, http.StatusRequestEntityTooLarge},
		{"/result", huge, http.StatusRequestEntityTooLarge},
		{"/update", `{"manifestURL": 1}`, http.StatusBadRequest},
		{"/update", `{"manifestURL": "x"} {"more": 1}`, http.StatusBadRequest},
		{"/update", `{"nosuchfield": "x"}`, http.StatusBadRequest},
		{"/result", `not json` + strings.Repeat("B", 3000), http.StatusBadRequest},
	} {
		req, _ := http.NewRequest("POST", "http://core"+tt.path, strings.NewReader(tt.body))
		resp, err := controlClient(filepath.Join(a.dir, "data")).Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", tt.path, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || len(msg) > 512 {
			t.Errorf("POST %s (%d bytes): %s, %d-byte answer %.100q; want %d and a short answer", tt.path, len(tt.body), resp.Status, len(msg), msg, tt.status)
		}
	}
	if _, err := a.status(); err != nil {
		t.Fatalf("the core no longer answers: %v", err)
	}
	if out := a.output(); strings.Contains(out, "AAAAAAAA") || strings.Contains(out, "BBBBBBBB") {
		t.Errorf("a request body reached the log")
	}
}

// TestAgentUpdateCheckWritesNothing: `update --check` on a fresh tree
// leaves no file or directory behind.
func TestAgentUpdateCheckWritesNothing(t *testing.T) {
	t.Parallel()
	r := newReleases(t)
	r.publish(t, "3.2.0.0", []byte("package"), "")
	a := newAgent(t, agentBinary(t, "3.1.0.0"), updateConfigJSON(r.manifestURL(), 60))
	out, errOut, err := a.run("update", "--check", "--json")
	if err != nil || !strings.Contains(out, `"action":"update"`) {
		t.Fatalf("update --check = %v\n%s%s", err, out, errOut)
	}
	for _, d := range []string{"data", "log", "install"} {
		if _, err := os.Lstat(filepath.Join(a.dir, d)); !os.IsNotExist(err) {
			t.Errorf("update --check created %s (%v)", d, err)
		}
	}
}

// TestAgentUpdateTrustsConfiguredCA: an internal mirror's HTTPS
// certificate is trusted through SelfUpdate.CACertificates only, and a
// redirect from it to plain http elsewhere is refused.
func TestAgentUpdateTrustsConfiguredCA(t *testing.T) {
	t.Parallel()
	r := newReleases(t)
	r.publish(t, "3.2.0.0", []byte("package"), "")
	mirror := httptest.NewTLSServer(r.srv.Config.Handler)
	defer mirror.Close()
	caFile := filepath.Join(t.TempDir(), "mirror-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mirror.Certificate().Raw}), 0o644)
	bin := agentBinary(t, "3.1.0.0")
	url := mirror.URL + "/ssm-agent-manifest.json"

	without := newAgent(t, bin, fmt.Sprintf(`{"SelfUpdate": {"ManifestURL": %q}}`, url))
	if out, errOut, err := without.run("update", "--check"); err == nil || !strings.Contains(errOut, "certificate") {
		t.Errorf("update --check without the CA = %v\n%s%s", err, out, errOut)
	}
	with := newAgent(t, bin, fmt.Sprintf(`{"SelfUpdate": {"ManifestURL": %q, "CACertificates": [%q]}}`, url, caFile))
	if out, errOut, err := with.run("update", "--check", "--json"); err != nil || !strings.Contains(out, `"action":"update"`) {
		t.Errorf("update --check with the CA = %v\n%s%s", err, out, errOut)
	}

	redirect := httptest.NewTLSServer(http.RedirectHandler("http://mirror.invalid/ssm-agent-manifest.json", http.StatusFound))
	defer redirect.Close()
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: redirect.Certificate().Raw}), 0o644)
	redirected := newAgent(t, bin, fmt.Sprintf(`{"SelfUpdate": {"ManifestURL": %q, "CACertificates": [%q]}}`, redirect.URL+"/m.json", caFile))
	if out, errOut, err := redirected.run("update", "--check"); err == nil || !strings.Contains(errOut, "redirect to http://mirror.invalid/ssm-agent-manifest.json refused") {
		t.Errorf("update --check through a redirect to plain http = %v\n%s%s", err, out, errOut)
	}
}

// TestAgentConcurrentUpdateNow asks for an update three times at once: one
// update runs, the others say it is in progress; the version ends
// committed and complete, with one result line.
func TestAgentConcurrentUpdateNow(t *testing.T) {
	t.Parallel()
	newBin, err := os.ReadFile(agentBinary(t, "3.2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	r := newReleases(t)
	r.publish(t, "3.2.0.0", agentPackage(t, newBin), "")
	a := newAgent(t, agentBinary(t, "3.1.0.0"), updateConfigJSON(r.manifestURL(), 60))
	a.start()
	done := make(chan string, 3)
	for range 3 {
		go func() {
			out, errOut, err := a.run("update", "--now", "--wait", "0")
			done <- fmt.Sprintf("%v %s%s", err, out, errOut)
		}()
	}
	for range 3 {
		t.Log(<-done)
	}
	a.waitFor("the update ended", 60*time.Second, func() (bool, string) {
		st, err := a.status()
		return err == nil && st.Healthy && st.Version == "3.2.0.0" && a.journal().Finished(), fmt.Sprint(err)
	})
	a.waitFor("no guardian left", 20*time.Second, func() (bool, string) { return len(a.guardians()) == 0, "" })
	if lines := a.resultLines(); len(lines) != 1 || !strings.Contains(lines[0], "UpdateSucceeded_SelfUpdate-3.2.0.0") {
		t.Errorf("result lines %q, want one success", lines)
	}
	if c := a.current(); c != "3.2.0.0" {
		t.Errorf("current %s", c)
	}
	if _, err := os.Stat(a.path("install", "versions", "3.2.0.0", "ssm-agent")); err != nil {
		t.Errorf("the running version lost its binary: %v", err)
	}
}

// TestAgentNewCoreDiesAtStart: a version that says its version but whose
// core exits at once is rolled back well within the health deadline, the
// old version running again, one result recorded.
func TestAgentNewCoreDiesAtStart(t *testing.T) {
	t.Parallel()
	r := newReleases(t)
	r.publish(t, "3.2.0.0", agentPackage(t, []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo 3.2.0.0; exit 0; fi\necho this core cannot start >&2\nexit 3\n")), "")
	const healthTimeout = 20
	a := newAgent(t, agentBinary(t, "3.1.0.0"), updateConfigJSON(r.manifestURL(), healthTimeout))
	a.start()
	start := time.Now()
	if _, _, err := a.run("update", "--now", "--wait", "0"); err != nil {
		t.Fatal(err)
	}
	const want = "UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-3.2.0.0"
	a.waitFor("rolled back", (healthTimeout+30)*time.Second, func() (bool, string) {
		st, err := a.status()
		return err == nil && st.Healthy && st.Version == "3.1.0.0" && a.journal().Finished() && len(a.resultLines()) == 1,
			fmt.Sprintf("%v %q", err, a.resultLines())
	})
	if took := time.Since(start); took > healthTimeout*time.Second {
		t.Errorf("rolled back after %s, past the %d s health deadline", took, healthTimeout)
	}
	if lines := a.resultLines(); !strings.Contains(lines[0], want) {
		t.Errorf("result %q, want %s", lines, want)
	}
	if c := a.current(); c != "3.1.0.0" {
		t.Errorf("current %s", c)
	}
}
