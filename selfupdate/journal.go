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
// may have happened. While an update runs it is, in order, "downloading"
// (fetching and verifying the target package), "unpacking" (into
// staging), "staging" (marking it complete, moving it to versions/),
// "switching" (pointing current at the target), "restarting" (into the
// target), "checking" (waiting for it to be healthy) and, when it is not,
// "rolling-back"; Journal.Finished says whether it has ended, in one of
// the three exported phases.
type Phase string

// The phases in which an update ends, and those it passes through.
const (
	phaseDownloading Phase = "downloading" // fetching and verifying the target package
	phaseUnpacking   Phase = "unpacking"   // unpacking into staging
	phaseStaging     Phase = "staging"     // marking complete, moving to versions/
	phaseSwitching   Phase = "switching"   // pointing current at the target
	phaseRestarting  Phase = "restarting"  // restarting into the target
	phaseChecking    Phase = "checking"    // waiting for the target to be healthy
	PhaseCommitted   Phase = "committed"   // the target runs and is healthy
	phaseRollingBack Phase = "rolling-back"
	PhaseRolledBack  Phase = "rolled-back" // the source runs again
	PhaseAborted     Phase = "aborted"     // stopped before the switch; the source never stopped
)

// finished reports whether an update in phase p is over.
func (p Phase) finished() bool {
	return p == "" || p == PhaseCommitted || p == PhaseRolledBack || p == PhaseAborted
}

// switched reports whether current may point at the target in phase p.
func (p Phase) switched() bool {
	return p == phaseSwitching || p == phaseRestarting || p == phaseChecking
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
	// Result is SSM's result string once the update has ended.
	Result  string    `json:"result,omitempty"`
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated"`
	// guardian is the process that runs the health gate after the
	// switch, when it is not the updater's own.
	guardian *procid.ID
}

// journalFile is a Journal as its file holds it, with its guardian.
type journalFile struct {
	Journal
	Guardian *procid.ID `json:"guardian,omitempty"`
}

func readJournal(path string) (Journal, error) {
	var f journalFile
	b, err := atomicfile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f.Journal, nil
	}
	if err != nil {
		return f.Journal, fmt.Errorf("selfupdate: journal: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return Journal{}, fmt.Errorf("selfupdate: journal %s: %w", path, err)
	}
	f.Journal.guardian = f.Guardian
	return f.Journal, nil
}

func writeJournal(path string, j Journal) error {
	j.Updated = time.Now()
	b, _ := json.MarshalIndent(journalFile{Journal: j, Guardian: j.guardian}, "", "  ")
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
