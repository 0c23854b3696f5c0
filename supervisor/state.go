package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/workerproto"
)

// stateVersion is the format version of state files. Version 1 had no
// mark; it is still read, from a core of an earlier version.
const stateVersion = 2

// workerState is what the supervisor remembers on disk about a running
// worker, so that the next core can find it: one JSON file per worker,
// written atomically, mode 0600 (it holds the worker's secret).
type workerState struct {
	Version int       `json:"version"`
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	Process identity  `json:"process"`
	Started time.Time `json:"started"`
	// Secret is the worker's workerproto secret, so that an adopted worker
	// can connect again.
	Secret string `json:"secret,omitempty"`
	// Mark is the MarkEnv token the process was started with. A state
	// with a mark and no pid is an intent, written before the fork: the
	// core died before it could record the pid, and the process, if the
	// fork happened, is found by its mark.
	Mark string `json:"mark,omitempty"`
}

func (s *Supervisor) statePath(name string) string {
	return filepath.Join(s.cfg.StateDir, name+".json")
}

// saveIntent records, before the fork, that a process of spec is about to
// start with mark.
func (s *Supervisor) saveIntent(spec *Spec, mark string, secret workerproto.Secret) error {
	return s.writeState(spec, workerState{Mark: mark}, secret)
}

// saveState records a started or adopted process.
func (s *Supervisor) saveState(spec *Spec, p *process, secret workerproto.Secret) error {
	return s.writeState(spec, workerState{Process: p.id, Started: p.started, Mark: p.mark}, secret)
}

func (s *Supervisor) writeState(spec *Spec, st workerState, secret workerproto.Secret) error {
	if s.cfg.StateDir == "" {
		return nil
	}
	st.Version, st.Name, st.Path = stateVersion, spec.Name, spec.Path
	if !secret.IsZero() {
		st.Secret = secret.Encode()
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if d := s.stateDir.Load(); d != nil {
		err = d.WriteFile(spec.Name+".json", b, 0o600)
	} else {
		err = atomicfile.WriteFile(s.statePath(spec.Name), b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("supervisor: save state of %s: %w", spec.Name, err)
	}
	return nil
}

// dropState forgets a worker's process once it is gone for good.
func (s *Supervisor) dropState(name string) error {
	if s.cfg.StateDir == "" {
		return nil
	}
	if d := s.stateDir.Load(); d != nil {
		return d.Remove(name + ".json")
	}
	return atomicfile.Remove(s.statePath(name))
}

// loadState reads the state of a worker left by an earlier run. A missing
// file is (nil, nil); a malformed one is an error that names it.
func (s *Supervisor) loadState(name string) (*workerState, error) {
	if s.cfg.StateDir == "" {
		return nil, nil
	}
	path := s.statePath(name)
	// Not through a link, not waiting on a FIFO: a state file planted
	// there is refused, never trusted.
	var b []byte
	var err error
	if d := s.stateDir.Load(); d != nil {
		b, err = d.ReadFile(name + ".json")
	} else {
		b, err = atomicfile.ReadFile(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("supervisor: state of %s: %w", name, err)
	}
	return parseState(path, name, b)
}

// parseState decodes the state file at path, which must be for the worker
// name: version 1 or 2, and a mark, if any, of 32 hexadecimal digits.
func parseState(path, name string, b []byte) (*workerState, error) {
	var st workerState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("supervisor: state file %s: %w", path, err)
	}
	if (st.Version != stateVersion && st.Version != 1) || st.Name != name {
		return nil, fmt.Errorf("supervisor: state file %s: version %d for %q, want version 1 or %d for %q", path, st.Version, st.Name, stateVersion, name)
	}
	if st.Mark != "" && !validMark(st.Mark) {
		return nil, fmt.Errorf("supervisor: state file %s: mark is not 32 hexadecimal digits", path)
	}
	if st.Process.PID < 0 {
		return nil, fmt.Errorf("supervisor: state file %s: negative pid %d", path, st.Process.PID)
	}
	return &st, nil
}
