//go:build unix

package selfupdate

import (
	"github.com/ssmkit/ssmkit/internal/procid"

	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ssmkit/ssmkit/manifest"
)

const (
	crashAtEnv    = "SELFUPDATE_TEST_CRASH_AT" // the step after which the child kills itself
	crashURLEnv   = "SELFUPDATE_TEST_MANIFEST"
	crashDirEnv   = "SELFUPDATE_TEST_DIR"
	crashLayoutOK = "ok"
)

// fileService stands in for the init system in the crash test: restarting
// records the version, and a version is healthy when its agent.conf says ok.
type fileService struct{ layout Layout }

func (f fileService) Restart(ctx context.Context, version string) error {
	return os.WriteFile(filepath.Join(f.layout.Dir, "running"), []byte(version), 0o644)
}

func (f fileService) Check(ctx context.Context, version string) error {
	b, _ := os.ReadFile(filepath.Join(f.layout.VersionDir(version), "agent.conf"))
	if strings.TrimSpace(string(b)) != crashLayoutOK {
		return fmt.Errorf("version %s is not healthy", version)
	}
	return nil
}

func crashConfig(dir, manifestURL string) Config {
	layout := Layout{Dir: filepath.Join(dir, "install")}
	return Config{
		ManifestURL: manifestURL, Platform: manifest.Platform{Name: "linux", Arch: "amd64"},
		Current: manifest.MustParseVersion("1.0.0"), InstallDir: layout.Dir, StateDir: filepath.Join(dir, "update"),
		Restarter: fileService{layout}, Health: fileService{layout}, HealthTimeout: 300e6, HealthInterval: 10e6,
	}
}

// crashMain runs an update and kills itself with SIGKILL after step at.
func crashMain(at string) int {
	testHook = func(s string) {
		if s == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	u, err := New(crashConfig(os.Getenv(crashDirEnv), os.Getenv(crashURLEnv)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	u.Update(context.Background())
	return 0
}

// TestCrashAtEveryStep kills an update at each step boundary, then runs
// Recover: current always points at a complete version, and the journal
// says which.
func TestCrashAtEveryStep(t *testing.T) {
	steps := []struct {
		step, conf string
		want       string // the version current must end at
		phase      Phase
	}{
		{"downloaded", "ok", "1.0.0", PhaseAborted},
		{"verified", "ok", "1.0.0", PhaseAborted},
		{"unpacked", "ok", "1.0.0", PhaseAborted},
		{"staged", "ok", "1.0.0", PhaseAborted},
		{"switched", "ok", "1.0.0", PhaseRolledBack},
		{"restarted", "ok", "1.0.0", PhaseRolledBack},
		{"checked", "ok", "1.0.0", PhaseRolledBack},
		{"committed", "ok", "2.0.0", PhaseCommitted},
		{"rolling-back", "unhealthy", "1.0.0", PhaseRolledBack},
	}
	for _, tt := range steps {
		t.Run(tt.step, func(t *testing.T) {
			dir := t.TempDir()
			r := newRepo(t)
			srv := httptest.NewServer(r.srv.Config.Handler) // plain http: loopback is allowed
			defer srv.Close()
			r.srv = srv
			r.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: tt.conf})
			cfg := crashConfig(dir, srv.URL+"/ssm-agent-manifest.json")
			layout := Layout{Dir: cfg.InstallDir}
			conf := filepath.Join(dir, "agent.conf")
			os.WriteFile(conf, []byte("ok"), 0o644)
			if err := layout.Install("1.0.0", map[string]string{"agent.conf": conf}); err != nil {
				t.Fatal(err)
			}
			layout.Switch("1.0.0")

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashAtEnv+"="+tt.step, crashURLEnv+"="+cfg.ManifestURL, crashDirEnv+"="+dir)
			cmd.Stderr = os.Stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the update was not killed at %s: %v", tt.step, err)
			}

			u, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Recover(context.Background()); err != nil && tt.phase == PhaseCommitted {
				t.Fatalf("Recover: %v", err)
			}
			cur, err := layout.Current()
			if err != nil {
				t.Fatal(err)
			}
			if err := layout.Complete(cur); err != nil {
				t.Errorf("current %s is not complete: %v", cur, err)
			}
			j, _ := readJournal(filepath.Join(cfg.StateDir, "update.json"))
			if cur != tt.want || j.Phase != tt.phase {
				t.Errorf("after a crash at %s: current %s, journal %s; want %s, %s", tt.step, cur, j.Phase, tt.want, tt.phase)
			}
			if (j.Phase == PhaseCommitted) != (cur == j.Target) {
				t.Errorf("journal %s disagrees with current %s", j.Phase, cur)
			}
			// A second Recover changes nothing.
			u.Recover(context.Background())
			if again, _ := layout.Current(); again != cur {
				t.Errorf("a second Recover moved current to %s", again)
			}
		})
	}
}

// guardianOf starts a process that stays alive for the test and returns
// its identity.
func guardianOf(t *testing.T) procid.ID {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "agent.conf"), []byte("unhealthy"), 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return procid.Of(cmd.Process.Pid)
}
