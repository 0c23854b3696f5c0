package supervisor

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStateDirSwappedWhileServingIsNotFollowed swaps the state directory
// for a link to another while the supervisor serves: the state of a
// restarted worker is written to the directory opened at the start, never
// through the link.
func TestStateDirSwappedWhileServingIsNotFollowed(t *testing.T) {
	dir := privateDir(t)
	state := filepath.Join(dir, "state")
	canary := t.TempDir()
	sv := serve(t, Config{StateDir: state}, helperSpec("w", "sleep"))
	from := 0
	sv.rec.waitFor(t, &from, EventStarted, nil)
	if err := os.Rename(state, state+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(canary, state); err != nil {
		t.Fatal(err)
	}
	pid := sv.Status()[0].PID
	syscall.Kill(pid, syscall.SIGKILL)
	sv.rec.waitFor(t, &from, EventStarted, nil) // restarted: its state saved
	if entries, _ := os.ReadDir(canary); len(entries) != 0 {
		t.Errorf("state written through the swapped link: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(state+".moved", "w.json")); err != nil {
		t.Errorf("the state is not in the directory opened at the start: %v", err)
	}
	sv.stop(t)
}
