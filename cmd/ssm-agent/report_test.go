package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportedOnceWhenItsRecordCannotBeSaved: with the record of reported
// results unwritable (a directory planted at its name, a full disk), a
// result that reaches the core again and again is recorded once.
func TestReportedOnceWhenItsRecordCannotBeSaved(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	c := &core{g: &globals{dataDir: dir}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := os.MkdirAll(filepath.Join(c.reportedPath(), "planted"), 0o700); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.reportResult("UpdateSucceeded_SelfUpdate-3.2.0.0@k", "UpdateSucceeded_SelfUpdate-3.2.0.0", "3.1.0.0", "3.2.0.0")
	}
	if n := strings.Count(logs.String(), `msg="update result"`); n != 1 {
		t.Errorf("recorded %d times, want once:\n%s", n, logs.String())
	}
}
