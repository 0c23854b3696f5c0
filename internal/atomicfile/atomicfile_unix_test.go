//go:build unix

package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const (
	crashEnv  = "ATOMICFILE_TEST_CRASH_AT" // the step after which the helper kills itself
	targetEnv = "ATOMICFILE_TEST_TARGET"
)

func TestMain(m *testing.M) {
	if at := os.Getenv(crashEnv); at != "" {
		testHook = func(step string) {
			if step == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		WriteFile(os.Getenv(targetEnv), []byte(strings.Repeat("new", 100000)), 0o600)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCrashAtEachStep kills a process in the middle of WriteFile, after
// each step, and checks that the target holds the old or the new content,
// whole.
func TestCrashAtEachStep(t *testing.T) {
	newContent := strings.Repeat("new", 100000)
	for _, step := range []string{"created", "written", "synced", "renamed", "dir-synced"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			if err := WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashEnv+"="+step, targetEnv+"="+path)
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper: %v, want killed", err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch got := string(b); {
			case got == "old" && (step == "created" || step == "written" || step == "synced"):
			case got == newContent && (step == "renamed" || step == "dir-synced"):
			default:
				t.Fatalf("after a crash at %q the file holds %d bytes starting %.10q", step, len(got), got)
			}
			if err := CleanTemp(dir); err != nil {
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("CleanTemp left %d entries", len(entries))
			}
		})
	}
}
