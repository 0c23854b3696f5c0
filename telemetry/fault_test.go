package telemetry

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultFS is the real file system with chosen operations failing: what a
// full or failing disk does, at each place the spool writes.
type faultFS struct {
	osFS
	mu    sync.Mutex
	when  func(op, path string) bool // the operations that fail
	err   error
	hits  int
	names map[string]*string // the current names of open files
}

// track follows an open file's name through renames.
func (f *faultFS) track(fl file, path string) file {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.names == nil {
		f.names = map[string]*string{}
	}
	name := &path
	f.names[path] = name
	return faultFile{fl, f, name}
}

func (f *faultFS) set(when func(op, path string) bool, err error) {
	f.mu.Lock()
	f.when, f.err = when, err
	f.mu.Unlock()
}

func (f *faultFS) hitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *faultFS) check(op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.when != nil && f.when(op, path) {
		f.hits++
		return &pathError{op, path, f.err}
	}
	return nil
}

type pathError struct {
	op, path string
	err      error
}

func (e *pathError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func (f *faultFS) create(path string) (file, error) {
	if err := f.check("create", path); err != nil {
		return nil, err
	}
	fl, err := f.osFS.create(path)
	if err != nil {
		return nil, err
	}
	return f.track(fl, path), nil
}

func (f *faultFS) open(path string, rw bool) (file, error) {
	fl, err := f.osFS.open(path, rw)
	if err != nil {
		return nil, err
	}
	return f.track(fl, path), nil
}

func (f *faultFS) rename(from, to string) error {
	if err := f.check("rename", from); err != nil {
		return err
	}
	if err := f.osFS.rename(from, to); err != nil {
		return err
	}
	f.mu.Lock()
	if name := f.names[from]; name != nil {
		*name, f.names[to] = to, name
		delete(f.names, from)
	}
	f.mu.Unlock()
	return nil
}

func (f *faultFS) remove(path string) error {
	if err := f.check("remove", path); err != nil {
		return err
	}
	return f.osFS.remove(path)
}

func (f *faultFS) syncDir(dir string) error {
	if err := f.check("syncdir", dir); err != nil {
		return err
	}
	return f.osFS.syncDir(dir)
}

func (f *faultFS) writeFile(path string, data []byte) error {
	if err := f.check("writefile", path); err != nil {
		return err
	}
	return f.osFS.writeFile(path, data)
}

type faultFile struct {
	file
	fs   *faultFS
	name *string
}

func (f faultFile) Name() string {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return *f.name
}

func (f faultFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.fs.check("write", f.Name()); err != nil {
		return 0, err
	}
	return f.file.WriteAt(b, off)
}

func (f faultFile) Read(b []byte) (int, error) {
	if err := f.fs.check("read", f.Name()); err != nil {
		return 0, err
	}
	return f.file.Read(b)
}

func (f faultFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.fs.check("read", f.Name()); err != nil {
		return 0, err
	}
	return f.file.ReadAt(b, off)
}

func (f faultFile) Sync() error {
	if err := f.fs.check("sync", f.Name()); err != nil {
		return err
	}
	return f.file.Sync()
}

func (f faultFile) datasync() error {
	if err := f.fs.check("sync", f.Name()); err != nil {
		return err
	}
	return f.file.datasync()
}

func (f faultFile) Truncate(n int64) error {
	if err := f.fs.check("truncate", f.Name()); err != nil {
		return err
	}
	return f.file.Truncate(n)
}

// at matches one operation on the files whose base name passes isFile.
func at(op string, isFile func(base string) bool) func(string, string) bool {
	return func(o, path string) bool { return o == op && isFile(filepath.Base(path)) }
}

func isSpare(base string) bool   { return base == spareName }
func isSegment(base string) bool { return strings.HasSuffix(base, segmentSuffix) && base != spareName }
func anyFile(string) bool        { return true }

// A faultCase is a file operation that fails, and what that does.
type faultCase struct {
	name    string
	when    func(op, path string) bool
	err     error
	refuses bool // Record fails while the fault lasts
	atOpen  bool // the fault is there before Open
}

// TestFullDiskAtEveryWriteSite fails each write site of the spool in turn
// (ENOSPC, EDQUOT, EIO): Record never panics, refuses events with an error
// that says why, the spool says it is degraded, and once the disk works
// again recording resumes by itself and every event acknowledged before,
// during and after is delivered.
func TestFullDiskAtEveryWriteSite(t *testing.T) {
	tests := []faultCase{
		{"append write", at("write", isSegment), syscall.ENOSPC, true, false},
		{"append write quota", at("write", isSegment), syscall.EDQUOT, true, false},
		{"append write io", at("write", isSegment), syscall.EIO, true, false},
		{"append fdatasync", at("sync", isSegment), syscall.EIO, true, false},
		{"append fdatasync full", at("sync", isSegment), syscall.ENOSPC, true, false},
		{"spare create", at("create", isSpare), syscall.ENOSPC, false, false},
		{"spare zero-fill", at("write", isSpare), syscall.ENOSPC, false, false},
		{"spare sync", at("sync", isSpare), syscall.EIO, false, false},
		{"rotate rename", at("rename", anyFile), syscall.EIO, false, false},
		{"new segment create", at("create", anyFile), syscall.ENOSPC, true, false},
		{"directory sync", at("syncdir", anyFile), syscall.EIO, true, false},
		{"checkpoint", at("writefile", anyFile), syscall.ENOSPC, false, false},
		{"collect remove", at("remove", anyFile), syscall.EIO, false, false},
		{"segment read", at("read", isSegment), syscall.EIO, false, false},
		{"create at open", at("create", anyFile), syscall.ENOSPC, true, true},
		{"everything at open", func(op, _ string) bool { return op != "remove" }, syscall.ENOSPC, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runFault(t, tt) })
	}
}

// runFault records before, during and after the fault, and checks.
func runFault(t *testing.T, tt faultCase) {
	fsys := &faultFS{}
	sink := newMemSink("s")
	var notes []error
	var notesMu sync.Mutex
	onError := func(name string, err error) {
		if name == "" {
			notesMu.Lock()
			notes = append(notes, err)
			notesMu.Unlock()
		}
	}
	cfg := Config{Dir: t.TempDir(), SegmentBytes: 4096, fs: fsys, Sinks: []SinkConfig{fast(sink)}, OnError: onError}
	if tt.atOpen {
		fsys.set(tt.when, tt.err)
	}
	p, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open with a failing disk: %v", err)
	}
	p.spool.spareRetry = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done; p.Close(context.Background()) }()

	var acked []string
	record := func(i int) error {
		e := Event{ID: "e" + strconv.Itoa(i), Type: "t", Name: "n" + strconv.Itoa(i)}
		err := p.Record(context.Background(), e)
		if err == nil {
			acked = append(acked, e.ID)
		}
		return err
	}
	i := 0
	for ; i < 50; i++ {
		if err := record(i); err != nil && !tt.atOpen {
			t.Fatalf("Record %d before the fault: %v", i, err)
		}
	}
	fsys.set(tt.when, tt.err)
	refused := 0
	for ; i < 300; i++ {
		err := record(i)
		if err == nil {
			continue
		}
		refused++
		if !errors.Is(err, ErrNotRecorded) || !errors.Is(err, tt.err) {
			t.Fatalf("Record %d: %v, want ErrNotRecorded and %v", i, err, tt.err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "telemetry: event not recorded: ") || strings.Count(msg, "telemetry:") != 1 {
			t.Fatalf("Record %d: %q, want one prefix", i, msg)
		}
		if st := p.SpoolStatus(); st.State != StateDegraded || !strings.Contains(st.Reason, tt.err.Error()) || st.Rejected == 0 {
			t.Fatalf("status while refusing: %+v", st)
		}
	}
	if fsys.hitCount() == 0 {
		t.Fatal("the fault was never hit")
	}
	if tt.refuses != (refused > 0) {
		t.Errorf("%d of 250 records refused; want refusals: %v", refused, tt.refuses)
	}
	fsys.set(nil, nil)
	// Recording resumes by itself, and the spool is well again
	// once a preallocated segment is there.
	deadline := time.Now().Add(testTimeout)
	for ; ; i++ {
		if err := record(i); err != nil {
			t.Fatalf("Record %d after the disk recovered: %v", i, err)
		}
		if st := p.SpoolStatus(); st.State == StateOK && i >= 350 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %+v", p.SpoolStatus())
		}
	}
	checkDelivered(t, sink, acked)
	if refused > 0 {
		notesMu.Lock()
		defer notesMu.Unlock()
		if len(notes) < 2 || !errors.Is(notes[0], ErrDegraded) || notes[len(notes)-1] != nil {
			t.Errorf("OnError for the spool: %v", notes)
		} else if msg := notes[0].Error(); !strings.HasPrefix(msg, "telemetry: spool degraded: ") || strings.Count(msg, "telemetry:") != 1 {
			t.Errorf("OnError for the spool: %q, want one prefix", msg)
		}
	}
}

// checkDelivered checks that the sink got every acknowledged event.
func checkDelivered(t *testing.T, sink *memSink, acked []string) {
	t.Helper()
	got := map[string]bool{}
	for _, e := range sink.waitFor(t, len(acked)) {
		got[e.ID] = true
	}
	for _, id := range acked {
		if !got[id] {
			t.Fatalf("acknowledged event %s was not delivered", id)
		}
	}
}
