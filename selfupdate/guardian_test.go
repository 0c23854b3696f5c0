//go:build unix

package selfupdate

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const guardianEnv = "SELFUPDATE_TEST_GUARDIAN" // the test directory

// guardianMain is the guardian process: the health gate of the journalled
// update, with the file-based service.
func guardianMain(dir string) int {
	u, err := New(crashConfig(dir, "http://127.0.0.1:1/unused"))
	if err != nil {
		return 2
	}
	if _, err := u.RunGuardian(context.Background()); err != nil {
		return 1
	}
	return 0
}

// TestGuardian updates with a detached guardian process running the
// health gate: the updater returns after the switch, and the guardian
// commits a healthy version or rolls back one that is not.
func TestGuardian(t *testing.T) {
	for _, tt := range []struct {
		conf, want string
		phase      Phase
	}{{"ok", "2.0.0", PhaseCommitted}, {"unhealthy", "1.0.0", PhaseRolledBack}} {
		t.Run(tt.conf, func(t *testing.T) {
			dir := t.TempDir()
			r := newRepo(t)
			r.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: tt.conf})
			cfg := crashConfig(dir, r.url("/ssm-agent-manifest.json"))
			cfg.Source = Sources{"https": &HTTPSource{Client: r.srv.Client()}}
			cfg.Launcher = &DetachedCommand{Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{guardianEnv + "=" + dir}}
			layout := Layout{Dir: cfg.InstallDir}
			conf := filepath.Join(dir, "agent.conf")
			os.WriteFile(conf, []byte("ok"), 0o644)
			layout.Install("1.0.0", map[string]string{"agent.conf": conf})
			layout.Switch("1.0.0")
			u, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := u.Update(context.Background())
			if err != nil || res.Code != "" {
				t.Fatalf("Update with a guardian = %+v, %v; want the guardian to report", res, err)
			}
			deadline := time.Now().Add(testWait)
			var j Journal
			for {
				j, _ = readJournal(filepath.Join(cfg.StateDir, "update.json"))
				if j.Phase.finished() || time.Now().After(deadline) {
					break
				}
				<-time.After(20 * time.Millisecond)
			}
			cur, _ := layout.Current()
			if j.Phase != tt.phase || cur != tt.want || j.Guardian == nil || j.Guardian.PID == os.Getpid() {
				t.Errorf("journal %s (guardian %+v), current %s; want %s, %s", j.Phase, j.Guardian, cur, tt.phase, tt.want)
			}
		})
	}
}

const testWait = 20 * time.Second
