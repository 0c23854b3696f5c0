package supervisor

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// linkOrCopy makes dst the test binary, by a hard link if it can.
func linkOrCopy(t *testing.T, dst string) {
	t.Helper()
	if os.Link(os.Args[0], dst) == nil {
		return
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRestartStale: a worker started through a symlink that then points to
// another executable is restarted, once, onto the new one; a worker that
// runs what its path names, or that the filter leaves out, is not.
func TestRestartStale(t *testing.T) {
	dir := t.TempDir()
	v1, v2, current := filepath.Join(dir, "v1"), filepath.Join(dir, "v2"), filepath.Join(dir, "current")
	linkOrCopy(t, v1)
	linkOrCopy(t, v2)
	if err := os.Symlink(v1, current); err != nil {
		t.Fatal(err)
	}
	stateDir, socket := stateDirSocket(t)
	updated, kept := helperSpec("updated", "sleep"), helperSpec("kept", "sleep")
	updated.Path, kept.Path = current, current
	sv := serve(t, Config{StateDir: stateDir, Socket: socket}, updated, kept)
	from := 0
	for range 2 {
		sv.rec.waitFor(t, &from, EventStarted, nil)
	}
	onlyUpdated := func(st WorkerStatus) bool { return st.Name == "updated" }
	ctx := testCtx(t)
	if got, err := sv.RestartStale(ctx, onlyUpdated); err != nil || len(got) != 0 {
		t.Fatalf("RestartStale before the update = %v, %v; want none", got, err)
	}
	before := sv.status(t, "updated").PID

	// The update: current now names v2.
	if err := os.Remove(current); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(v2, current); err != nil {
		t.Fatal(err)
	}
	got, err := sv.RestartStale(ctx, onlyUpdated)
	if err != nil || !slices.Equal(got, []string{"updated"}) {
		t.Fatalf("RestartStale after the update = %v, %v; want [updated]", got, err)
	}
	e := sv.rec.waitFor(t, &from, EventStarted, func(e Event) bool { return e.Worker == "updated" })
	if e.PID == before {
		t.Fatalf("updated runs as pid %d still", e.PID)
	}
	if exe, _ := processExecutable(e.PID); exe != v2 {
		t.Errorf("updated runs %s, want %s", exe, v2)
	}
	if exe := sv.status(t, "kept").Executable; exe != v1 {
		t.Errorf("the filtered-out worker runs %s (WorkerStatus.Executable), want %s still", exe, v1)
	}
	if got, err := sv.RestartStale(ctx, onlyUpdated); err != nil || len(got) != 0 {
		t.Fatalf("RestartStale a second time = %v, %v; want none", got, err)
	}
}
