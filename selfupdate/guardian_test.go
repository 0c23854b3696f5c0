//go:build unix

package selfupdate

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	guardianEnv      = "SELFUPDATE_TEST_GUARDIAN"       // the test directory
	guardianCrashEnv = "SELFUPDATE_TEST_GUARDIAN_CRASH" // the step after which the guardian kills itself
)

// guardianMain is the guardian process: the health gate of the journalled
// update, with the file-based service.
func guardianMain(dir string) int {
	if at := os.Getenv(guardianCrashEnv); at != "" {
		testHook = func(s string) {
			if s == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	u, err := New(crashConfig(dir, "http://127.0.0.1:1/unused"))
	if err != nil {
		return 2
	}
	if r, err := u.RunGuardian(context.Background()); err != nil && r.Code == "" {
		return 1 // ended with no result: a rollback's reason is no failure of the guardian
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
			if j.Phase != tt.phase || cur != tt.want || j.guardian == nil || j.guardian.PID == os.Getpid() {
				t.Errorf("journal %s (guardian %+v), current %s; want %s, %s", j.Phase, j.guardian, cur, tt.phase, tt.want)
			}
		})
	}
}

const testWait = 20 * time.Second

// testLauncher launches guardians from the test binary, the first one
// set to kill itself at a step, and keeps them to be waited for.
type testLauncher struct {
	dir, crashAt string
	mu           sync.Mutex
	cmds         []*exec.Cmd
	done         []chan error
}

func (l *testLauncher) Launch(ctx context.Context, _ string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), guardianEnv+"="+l.dir)
	if len(l.cmds) == 0 {
		cmd.Env = append(cmd.Env, guardianCrashEnv+"="+l.crashAt)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	l.cmds, l.done = append(l.cmds, cmd), append(l.done, done)
	return cmd.Process.Pid, nil
}

func (l *testLauncher) launched() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cmds)
}

func (l *testLauncher) wait(i int) error {
	l.mu.Lock()
	done := l.done[i]
	l.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-time.After(testWait):
		return context.DeadlineExceeded
	}
}

// TestGuardianKilledAtEveryStep kills the guardian with SIGKILL at each
// step of the gate; the updater's Recover, called as a running core calls
// it, launches a new guardian, which takes over where the first one
// stopped: the update ends committed or rolled back, current on a complete
// version that agrees with the journal.
func TestGuardianKilledAtEveryStep(t *testing.T) {
	for _, tt := range []struct {
		step, conf, want string
		phase            Phase
	}{
		{"restarted", "ok", "2.0.0", PhaseCommitted},
		{"checked", "ok", "2.0.0", PhaseCommitted},
		{"checked", "unhealthy", "1.0.0", PhaseRolledBack},
		{"committed", "ok", "2.0.0", PhaseCommitted},
		{"rolling-back", "unhealthy", "1.0.0", PhaseRolledBack},
	} {
		t.Run(tt.step+"-"+tt.conf, func(t *testing.T) {
			dir := t.TempDir()
			r := newRepo(t)
			r.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: tt.conf})
			cfg := crashConfig(dir, r.url("/ssm-agent-manifest.json"))
			cfg.Source = Sources{"https": &HTTPSource{Client: r.srv.Client()}}
			l := &testLauncher{dir: dir, crashAt: tt.step}
			cfg.Launcher = l
			layout := Layout{Dir: cfg.InstallDir}
			conf := filepath.Join(dir, "agent.conf")
			os.WriteFile(conf, []byte("ok"), 0o644)
			layout.Install("1.0.0", map[string]string{"agent.conf": conf})
			layout.Switch("1.0.0")
			u, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := u.Update(context.Background()); err != nil || res.Code != "" {
				t.Fatalf("Update with a guardian = %+v, %v", res, err)
			}
			err = l.wait(0)
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the guardian was not killed at %s: %v", tt.step, err)
			}
			deadline := time.Now().Add(testWait)
			var j Journal
			for {
				_, err := u.Recover(context.Background())
				j, _ = readJournal(filepath.Join(cfg.StateDir, "update.json"))
				if j.Phase.finished() || time.Now().After(deadline) {
					break
				}
				if err != nil && !errors.Is(err, ErrGuardianActive) && !errors.Is(err, ErrLockBusy) {
					t.Fatalf("Recover: %v", err)
				}
				<-time.After(20 * time.Millisecond) // a core's recovery period, shortened
			}
			cur, _ := layout.Current()
			if err := layout.Complete(cur); err != nil {
				t.Errorf("current %s is not complete: %v", cur, err)
			}
			if j.Phase != tt.phase || cur != tt.want {
				t.Errorf("journal %s, current %s; want %s, %s", j.Phase, cur, tt.phase, tt.want)
			}
			if tt.step != "committed" && l.launched() < 2 {
				t.Errorf("%d guardians launched, want a replacement", l.launched())
			}
			for i := 1; i < l.launched(); i++ {
				if err := l.wait(i); err != nil {
					t.Errorf("replacement guardian %d: %v", i, err)
				}
			}
		})
	}
}
