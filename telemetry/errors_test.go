package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestErrorPrefixes: every error a caller sees carries the package prefix
// once, with the sentinel errors still matched by errors.Is, and a sink's
// status keeps the sink's own message.
func TestErrorPrefixes(t *testing.T) {
	once := func(what string, err error, want string) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", what, err, want)
		}
	}
	dir := t.TempDir()
	_, err := Open(Config{Dir: dir, SegmentBytes: -1})
	once("Open", err, "telemetry: Config.SegmentBytes is -1, want at least 4096 (0: the default, 4194304)")

	var mu sync.Mutex
	var told []error
	failing := newMemSink("failing")
	failing.send = func([]Event) (int, error) { return 0, fmt.Errorf("my sink: %w: no endpoint", ErrNotConfigured) }
	audit := &AuditFiles{Dir: filepath.Join(dir, "file", "audits")}
	p, err := Open(Config{Dir: filepath.Join(dir, "spool"), Sinks: []SinkConfig{fast(failing), {Sink: audit}},
		OnError: func(_ string, err error) { mu.Lock(); told = append(told, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	once("Record", p.Record(ctx, Event{Name: "n"}), "telemetry: event Type is empty")
	if err := p.Record(ctx, Event{Type: "t", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	p.deliver(ctx, p.sinks[0])
	p.deliver(ctx, p.sinks[1])
	mu.Lock()
	if len(told) != 2 {
		t.Fatalf("OnError told %v", told)
	}
	once("OnError", told[0], "telemetry: sink failing: my sink: not configured: no endpoint")
	if !errors.Is(told[0], ErrNotConfigured) {
		t.Errorf("OnError: %v does not wrap ErrNotConfigured", told[0])
	}
	if msg := told[1].Error(); !strings.HasPrefix(msg, "telemetry: sink audit: audit files: ") || strings.Count(msg, "telemetry:") != 1 {
		t.Errorf("OnError: %q, want one prefix", msg)
	}
	mu.Unlock()
	if st := p.Status()[0]; st.LastError != "my sink: not configured: no endpoint" {
		t.Errorf("status: %+v", st)
	}

	serving := make(chan struct{})
	p.life.Lock()
	p.serving = serving
	p.life.Unlock()
	err = p.Serve(ctx)
	once("Serve", err, "telemetry: pipeline already being served")
	if !errors.Is(err, ErrServing) {
		t.Errorf("Serve: %v does not wrap ErrServing", err)
	}
	p.life.Lock()
	p.serving = nil
	p.life.Unlock()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	err = p.Record(ctx, Event{Type: "t", Name: "n"})
	once("Record after Close", err, "telemetry: pipeline closed")
	if !errors.Is(err, ErrClosed) || !errors.Is(p.Serve(ctx), ErrClosed) {
		t.Errorf("after Close: %v does not wrap ErrClosed", err)
	}
}
