//go:build unix

package selfupdate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor reads path until it holds want, or the deadline passes.
func waitFor(t *testing.T, path, want string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			b, _ := os.ReadFile(path)
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
	}
}

// TestDetachedCommandRunsTheSourceVersion: with Binary set, the guardian is
// the source version's file when Launch is given its directory, else Path;
// its output is appended to LogPath, a link there refused.
func TestDetachedCommandRunsTheSourceVersion(t *testing.T) {
	dir := t.TempDir()
	script := func(name, says string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+says+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	self := script("self", "running-binary")
	source := filepath.Join(dir, "v1")
	os.Mkdir(source, 0o755)
	script(filepath.Join("v1", "agent"), "source-version")
	log := filepath.Join(dir, "guardian.log")
	d := &DetachedCommand{Path: self, Binary: "agent", LogPath: log}
	if _, err := d.Launch(context.Background(), source); err != nil {
		t.Fatal(err)
	}
	waitFor(t, log, "source-version")
	if _, err := d.Launch(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, log, "running-binary")
	if fi, err := os.Stat(log); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("log %v, %v; want mode 0644", fi.Mode(), err)
	}

	link := filepath.Join(dir, "link.log")
	os.Symlink(log, link)
	if _, err := (&DetachedCommand{Path: self, LogPath: link}).Launch(context.Background(), ""); err == nil {
		t.Error("a log at a symbolic link was written through")
	}
}
