//go:build unix

package selfupdate

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// finishedJournal writes a journal of an update a guardian ended, as
// RunGuardian leaves it: committed, its result not yet told.
func finishedJournal(t *testing.T, s *setup) Journal {
	t.Helper()
	j := Journal{Phase: PhaseCommitted, Source: "1.0.0", Target: "1.0.0",
		Result: resultCode(stateSucceeded, "", "", "1.0.0")}
	if err := writeJournal(filepath.Join(s.cfg.StateDir, "update.json"), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestRecoverTellsAResultOnce: a result a guardian ended with no OnResult
// is told by the next Recover, once, whichever Updater (process) calls it
// and however often.
func TestRecoverTellsAResultOnce(t *testing.T) {
	s := newSetup(t)
	finishedJournal(t, s)
	for range 2 { // two processes, one after the other
		u := s.updater(t)
		for range 3 {
			if _, err := u.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(s.results); n != 1 {
		t.Fatalf("told %d times, want once", n)
	}
	if r := <-s.results; !r.Succeeded() || r.Target != "1.0.0" {
		t.Errorf("told %+v", r)
	}
}

// TestResultToldOnceWhenItsRecordCannotBeSaved: with the record of told
// results unwritable (a directory planted at its name, as a full disk
// would), a running Updater still tells a result once.
func TestResultToldOnceWhenItsRecordCannotBeSaved(t *testing.T) {
	s := newSetup(t)
	finishedJournal(t, s)
	u := s.updater(t)
	if err := os.MkdirAll(filepath.Join(u.reportedPath(), "planted"), 0o700); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		u.Recover(context.Background())
	}
	if n := len(s.results); n != 1 {
		t.Errorf("told %d times, want once", n)
	}
}

// TestGuardianWithoutOnResultLeavesTheResultToTell: an Updater with no
// OnResult (a guardian's) marks nothing told.
func TestGuardianWithoutOnResultLeavesTheResultToTell(t *testing.T) {
	s := newSetup(t)
	finishedJournal(t, s)
	quiet := s.cfg
	quiet.OnResult = nil
	g, err := New(quiet)
	if err != nil {
		t.Fatal(err)
	}
	g.Recover(context.Background())
	s.updater(t).Recover(context.Background())
	select {
	case <-s.results:
	default:
		t.Fatal("the result was never told")
	}
}
