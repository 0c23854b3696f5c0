//go:build unix

package telemetry

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestSwappedDirectoriesAreNotFollowed swaps segments/ and checkpoints/
// for links to a directory outside while the pipeline runs: nothing is
// ever written there.
func TestSwappedDirectoriesAreNotFollowed(t *testing.T) {
	dir := t.TempDir()
	canary := t.TempDir()
	sink := newMemSink("s")
	p, err := Open(Config{Dir: dir, SegmentBytes: 4096, Sinks: []SinkConfig{{Sink: sink}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	p.Record(ctx, Event{Type: "t", Name: "before"})
	for _, sub := range []string{"segments", "checkpoints"} {
		os.Rename(filepath.Join(dir, sub), filepath.Join(dir, sub+".moved"))
		if err := os.Symlink(canary, filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 { // several segments' worth: rotations, spares, checkpoints
		p.Record(ctx, Event{Type: "t", Name: strconv.Itoa(i)})
	}
	p.deliver(ctx, p.sinks[0])
	p.save(p.sinks[0])
	if entries, _ := os.ReadDir(canary); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("written through the swapped links: %v", names)
	}
}
