//go:build unix

package telemetry

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNeverFollowsLinks plants, at each name the pipeline creates,
// truncates, appends to or chmods, a symbolic link (or a hard link) to a
// canary file outside: the canary is never touched, and the pipeline
// either replaces the entry with its own or refuses with an error that
// names it.
func TestNeverFollowsLinks(t *testing.T) {
	today := time.Now().UTC().Format(auditDate)
	tests := []struct {
		name string
		// plant makes the entry in the pipeline's directory dir, pointing
		// at canary; the first run (if before) has made the spool.
		plant  func(t *testing.T, dir, canary string)
		before bool   // run the pipeline once before planting
		refuse string // Open fails with an error naming this; "" means it works
	}{
		{"first segment", symlinkAt("spool/segments/" + segmentName(1)), false, ""},
		{"last segment", symlinkAt("spool/segments/" + segmentName(1)), true, ""},
		{"last segment hard link", hardlinkAt("spool/segments/" + segmentName(1)), true, ""},
		{"spare segment", symlinkAt("spool/segments/" + spareName), false, ""},
		{"stale spare segment", symlinkAt("spool/segments/" + spareName), true, ""},
		{"spare hard link", hardlinkAt("spool/segments/" + spareName), true, ""},
		{"checkpoint", symlinkAt("spool/checkpoints/audit.json"), true, ""},
		{"checkpoint hard link", hardlinkAt("spool/checkpoints/audit.json"), true, ""},
		{"audit file", symlinkAt("audits/" + DefaultAuditPrefix + today), false, ""},
		{"audit file hard link", hardlinkAt("audits/" + DefaultAuditPrefix + today), true, ""},
		{"audit file fifo", fifoAt("audits/" + DefaultAuditPrefix + today), false, ""},
		{"checkpoint fifo", fifoAt("spool/checkpoints/audit.json"), true, ""},
		{"spare fifo", fifoAt("spool/segments/" + spareName), true, ""},
		{"segments directory", dirLinkAt("spool/segments"), false, "segments"},
		{"checkpoints directory", dirLinkAt("spool/checkpoints"), false, "checkpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			canary := filepath.Join(outside, "canary")
			content := []byte(`{"seq":123456789}` + "\n" + strings.Repeat("precious\n", 100))
			if err := os.WriteFile(canary, content, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := Config{Dir: filepath.Join(dir, "spool"), SegmentBytes: 64 << 10,
				Sinks: []SinkConfig{{Sink: &AuditFiles{Dir: filepath.Join(dir, "audits"), Location: time.UTC}}}}
			if tt.before {
				runOnce(t, cfg, 0)
			}
			tt.plant(t, dir, canary)
			n, err := runOnceErr(cfg, 1)
			switch {
			case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
				t.Errorf("Open: %v, want an error naming %s", err, tt.refuse)
			case tt.refuse == "" && err != nil:
				t.Errorf("Open: %v", err)
			case tt.refuse == "" && n < 1:
				t.Errorf("%d events in the audit file after the run", n)
			}
			if b, err := os.ReadFile(canary); err != nil || !bytes.Equal(b, content) {
				t.Errorf("the canary was changed: %d bytes, %v", len(b), err)
			}
			if fi, _ := os.Stat(canary); fi.Mode().Perm() != 0o644 {
				t.Errorf("the canary's mode is %v", fi.Mode().Perm())
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 1 {
				t.Errorf("%d entries beside the canary", len(entries)-1)
			}
		})
	}
}

func symlinkAt(rel string) func(*testing.T, string, string) {
	return func(t *testing.T, dir, canary string) {
		path := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o700)
		os.Remove(path)
		if err := os.Symlink(canary, path); err != nil {
			t.Fatal(err)
		}
	}
}

func hardlinkAt(rel string) func(*testing.T, string, string) {
	return func(t *testing.T, dir, canary string) {
		path := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o700)
		os.Remove(path)
		if err := os.Link(canary, path); err != nil {
			t.Skipf("no hard link across these directories: %v", err)
		}
	}
}

// fifoAt makes a FIFO, which would block an open that waits for a writer.
func fifoAt(rel string) func(*testing.T, string, string) {
	return func(t *testing.T, dir, canary string) {
		path := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o700)
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// dirLinkAt links a directory of the pipeline's to the canary's.
func dirLinkAt(rel string) func(*testing.T, string, string) {
	return func(t *testing.T, dir, canary string) {
		path := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.Symlink(filepath.Dir(canary), path); err != nil {
			t.Fatal(err)
		}
	}
}

func runOnce(t *testing.T, cfg Config, from int) {
	t.Helper()
	if _, err := runOnceErr(cfg, from); err != nil {
		t.Fatal(err)
	}
}

// runOnceErr opens the pipeline, records three events, closes it, and
// returns how many lines its audit file has.
func runOnceErr(cfg Config, from int) (int, error) {
	p, err := Open(cfg)
	if err != nil {
		return 0, err
	}
	for i := range 3 {
		if err := p.Record(context.Background(), Event{Type: "t", Name: "run" + strconv.Itoa(from) + "." + strconv.Itoa(i)}); err != nil {
			p.Close(context.Background())
			return 0, err
		}
	}
	if err := p.Close(context.Background()); err != nil {
		return 0, err
	}
	a := cfg.Sinks[0].Sink.(*AuditFiles)
	b, _ := os.ReadFile(filepath.Join(a.Dir, DefaultAuditPrefix+time.Now().UTC().Format(auditDate)))
	return strings.Count(string(b), "run"+strconv.Itoa(from)+"."), nil
}
