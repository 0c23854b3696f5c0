package selfupdate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/internal/procid"
)

// A Phase is how far an update has come. The journal records the phase
// about to be entered before its step is taken, so that Recover knows what
// may have happened.
type Phase string

// Phases, in order; an update ends in Committed, RolledBack or Aborted.
const (
	PhaseDownloading Phase = "downloading" // fetching and verifying the target package
	PhaseUnpacking   Phase = "unpacking"   // unpacking into staging
	PhaseStaging     Phase = "staging"     // marking complete, moving to versions/
	PhaseSwitching   Phase = "switching"   // pointing current at the target
	PhaseRestarting  Phase = "restarting"  // restarting into the target
	PhaseChecking    Phase = "checking"    // waiting for the target to be healthy
	PhaseCommitted   Phase = "committed"   // the target runs and is healthy
	PhaseRollingBack Phase = "rolling-back"
	PhaseRolledBack  Phase = "rolled-back" // the source runs again
	PhaseAborted     Phase = "aborted"     // stopped before the switch; the source never stopped
)

// finished reports whether an update in phase p is over.
func (p Phase) finished() bool {
	return p == "" || p == PhaseCommitted || p == PhaseRolledBack || p == PhaseAborted
}

// switched reports whether current may point at the target in phase p.
func (p Phase) switched() bool {
	return p == PhaseSwitching || p == PhaseRestarting || p == PhaseChecking
}

// A Journal is the durable record of the latest update.
type Journal struct {
	Phase    Phase     `json:"phase"`
	Source   string    `json:"source"`
	Target   string    `json:"target"`
	File     string    `json:"file"`
	URL      string    `json:"url"`
	Checksum string    `json:"checksum"`
	Attempts int       `json:"attempts"`
	Deadline time.Time `json:"deadline,omitzero"`
	// Guardian is the process that runs the health gate after the switch,
	// when it is not the updater's own.
	Guardian *Process `json:"guardian,omitempty"`
	// Result is SSM's result string once the update has ended.
	Result  string    `json:"result,omitempty"`
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated"`
}

func readJournal(path string) (Journal, error) {
	var j Journal
	b, err := atomicfile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return j, fmt.Errorf("selfupdate: journal: %w", err)
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return j, fmt.Errorf("selfupdate: journal %s: %w", path, err)
	}
	return j, nil
}

func writeJournal(path string, j Journal) error {
	j.Updated = time.Now()
	b, _ := json.MarshalIndent(j, "", "  ")
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("selfupdate: journal: %w", err)
	}
	return nil
}

// Journal returns the record of the latest update: the zero Journal when
// there has been none. It takes no lock, so an update in progress may move
// on as soon as it returns.
func (u *Updater) Journal() (Journal, error) { return readJournal(u.journalPath()) }

// Finished says whether the journal's update has ended: committed, rolled
// back or aborted (or there was none).
func (j Journal) Finished() bool { return j.Phase.finished() }

// A Process names one process instance by pid, start time and boot, so
// that a pid reused by an unrelated process never matches.
type Process struct {
	PID int `json:"pid"`
	// StartTicks is the start time in clock ticks after boot (Linux);
	// zero where the platform does not tell.
	StartTicks uint64 `json:"start_ticks,omitempty"`
	// BootID identifies the boot (Linux).
	BootID string `json:"boot_id,omitempty"`
}

// processOf names the running process pid.
func processOf(pid int) Process { return Process(procid.Of(pid)) }

// Running reports whether the process still runs (and is no zombie). It
// is false where start times are not known (off Linux): a journal's
// guardian is then never taken to be alive.
func (p Process) Running() bool { return procid.ID(p).Running() }
