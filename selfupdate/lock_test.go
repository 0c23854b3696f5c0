//go:build unix

package selfupdate

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const (
	lockEnv     = "SELFUPDATE_TEST_LOCK"      // the lock's path
	lockExecEnv = "SELFUPDATE_TEST_LOCK_EXEC" // set in the image exec'd into
)

// lockMain takes the lock and says so on stdout; then, the first time, it
// execs itself — keeping its pid and start time — and takes the lock again
// in the new image; then it waits to be killed.
func lockMain(path string) int {
	lk, err := acquireLock(path)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if os.Getenv(lockExecEnv) == "" {
		fmt.Println("locked")
		os.Setenv(lockExecEnv, "1")
		err := syscall.Exec(os.Args[0], os.Args, os.Environ())
		fmt.Println("exec:", err)
		return 1
	}
	fmt.Println("relocked")
	defer lk.release()
	select {}
}

func TestLockSurvivesExecAndDeath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "update.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	for _, want := range []string{"locked", "relocked"} {
		if !lines.Scan() || lines.Text() != want {
			cmd.Process.Kill()
			t.Fatalf("holder said %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
	// The exec'd image holds the lock: nobody else gets it.
	_, err = acquireLock(path)
	if !errors.Is(err, ErrLockBusy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Errorf("acquire while the exec'd holder lives: %v; want busy naming pid %d", err, cmd.Process.Pid)
	}
	if held, err := lockHeld(path); !held || err != nil {
		t.Errorf("lockHeld = %v, %v", held, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// Killed, it holds nothing, at once: no expiry, no pid check.
	lk, err := acquireLock(path)
	if err != nil {
		t.Fatalf("acquire after the holder was killed: %v", err)
	}
	lk.release()
}

func TestLockOneWinner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "update.lock")
	for round := range 20 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []*fileLock
		for range 8 {
			wg.Go(func() {
				if lk, err := acquireLock(path); err == nil {
					mu.Lock()
					won = append(won, lk)
					mu.Unlock()
				} else if !errors.Is(err, ErrLockBusy) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d winners", round, len(won))
		}
		won[0].release()
	}
}

func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	path := filepath.Join(dir, "update.lock")
	os.Symlink(target, path)
	if lk, err := acquireLock(path); err == nil {
		lk.release()
		t.Fatal("took a lock through a planted symbolic link")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}
}
