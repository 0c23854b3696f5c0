//go:build unix

package supervisor

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestStateFileFIFOAndLinkRefused: a FIFO or a symbolic link planted at a
// worker's state file is refused at once, never waited on or followed.
func TestStateFileFIFOAndLinkRefused(t *testing.T) {
	dir := t.TempDir()
	s := &Supervisor{cfg: Config{StateDir: dir}}
	if err := syscall.Mkfifo(s.statePath("w"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.loadState("w"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a FIFO was read as a state file")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loadState waits on a FIFO")
	}
	elsewhere := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(elsewhere, []byte(`{"version":2,"pid":1}`), 0o600)
	if err := os.Symlink(elsewhere, s.statePath("v")); err != nil {
		t.Fatal(err)
	}
	if st, err := s.loadState("v"); err == nil {
		t.Errorf("a state file was read through a link: %+v", st)
	}
}
