package supervisor

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// RestartStale restarts, one at a time in the order of Status, every worker
// that match selects (nil selects all) whose process does not run the
// executable its Spec.Path names now — the old version's, after an update
// replaced the file or switched a symlink on the path — and returns the
// names of the workers it restarted. A selected worker with no process
// running counts as stale, so that it starts again on the new executable.
// It stops at the first restart that fails, returning the names restarted
// before it and an error naming the worker.
//
// Only Linux tells which executable a process runs (/proc/<pid>/exe);
// elsewhere every selected worker counts as stale and is restarted.
func (s *Supervisor) RestartStale(ctx context.Context, match func(WorkerStatus) bool) ([]string, error) {
	var stale []string
	for _, st := range s.Status() {
		if match != nil && !match(st) {
			continue
		}
		w, err := s.worker(st.Name)
		if err != nil {
			continue // removed meanwhile
		}
		is, err := w.stale(st.PID)
		if err != nil {
			return nil, fmt.Errorf("supervisor: restart stale: worker %s: %w", st.Name, err)
		}
		if is {
			stale = append(stale, st.Name)
		}
	}
	var restarted []string
	for _, name := range stale {
		if err := s.Restart(ctx, name); err != nil {
			return restarted, fmt.Errorf("supervisor: restart stale: worker %s: %w", name, err)
		}
		restarted = append(restarted, name)
	}
	return restarted, nil
}

// stale reports whether process pid (0: none) runs another executable than
// the one the worker's spec names now.
func (w *worker) stale(pid int) (bool, error) {
	want, err := w.executable()
	if err != nil {
		return false, err
	}
	if pid <= 0 {
		return true, nil
	}
	// A process gone meanwhile is stale, and so is one whose executable
	// cannot be known: a restart starts the new one.
	exe, err := processExecutable(pid)
	return err != nil || exe != want, nil
}

// executable resolves the spec's Path as exec.Command and the kernel do:
// looked up in PATH if it has no separator, relative to Dir if set, with
// every symlink resolved.
func (w *worker) executable() (string, error) {
	path := w.spec.Path
	if !strings.ContainsRune(path, filepath.Separator) && !strings.ContainsRune(path, '/') {
		p, err := exec.LookPath(path)
		if err != nil {
			return "", err
		}
		path = p
	}
	if !filepath.IsAbs(path) && w.spec.Dir != "" {
		path = filepath.Join(w.spec.Dir, path)
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(path)
}
