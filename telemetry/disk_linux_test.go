package telemetry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes in a temporary directory for the
// test, or skips the test when it cannot (not root).
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file in dir until the disk is full, and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// TestFullTmpfs records from four goroutines into a spool on a 2 MiB tmpfs
// that a filler then fills: Records fail with ENOSPC (none panics), the
// spool and the audit sink say what is wrong, and once the filler is gone
// recording resumes by itself and every acknowledged event reaches both
// sinks.
func TestFullTmpfs(t *testing.T) {
	disk := smallDisk(t, 2<<20)
	sink := newMemSink("s")
	audit := &AuditFiles{Dir: filepath.Join(disk, "audits")}
	p, err := Open(Config{Dir: filepath.Join(disk, "spool"), SegmentBytes: 64 << 10,
		Sinks: []SinkConfig{fast(sink), {Sink: audit, FlushInterval: time.Millisecond, RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	p.spool.spareRetry = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done; p.Close(context.Background()) }()

	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		refused int
		n       int
	)
	produce := func(until func() bool) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					mu.Lock()
					stop := until()
					n++
					mu.Unlock()
					if stop {
						return
					}
					e := Event{ID: "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i) + "-" + newID(), Type: "t", Name: "filling"}
					err := p.Record(context.Background(), e)
					mu.Lock()
					if err == nil {
						acked[e.ID] = true
					} else if errors.Is(err, ErrNotRecorded) && errors.Is(err, syscall.ENOSPC) {
						refused++
					} else {
						t.Errorf("Record: %v", err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	produce(func() bool { return n >= 200 })
	filler := fill(t, disk)
	start := n
	produce(func() bool { return refused >= 100 || n-start > 200_000 })
	if refused == 0 {
		t.Fatalf("no Record failed on a full disk (%d recorded)", len(acked))
	}
	st := p.SpoolStatus()
	if st.State != StateDegraded || st.Rejected == 0 {
		t.Errorf("full disk: %+v", st)
	}
	t.Logf("full: %d acknowledged, %d refused; %+v", len(acked), refused, st)

	os.Remove(filler)
	start = n
	produce(func() bool { return n-start >= 2000 })
	if st := p.SpoolStatus(); st.State != StateOK {
		t.Errorf("after the disk has room again: %+v", st)
	}
	for _, s := range []string{sink.name, audit.Name()} {
		waitDelivered(t, p, s, uint64(len(acked)))
	}
	got := map[string]bool{}
	for _, e := range sink.events() {
		got[e.ID] = true
	}
	for id := range acked {
		if !got[id] {
			t.Fatalf("acknowledged event %s was not delivered", id)
		}
	}
}

// diskBytes returns the space the files under dir take on disk.
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil {
			n += fi.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return err
	})
	return n
}

// startAndStop is one start of an agent: open with the audit files and a
// pending AWS channel, serve, record a start, close.
func startAndStop(t *testing.T, dir string) {
	t.Helper()
	p, err := Open(Config{Dir: filepath.Join(dir, "spool"), Sinks: []SinkConfig{
		{Sink: &AuditFiles{Dir: filepath.Join(dir, "audits")}}, {Sink: pendingSink()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Serve(ctx); close(done) }()
	if err := p.Record(ctx, Event{Type: typeAgentTelemetry, Name: nameAgentStart}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestFiftyOneStarts starts and stops a pipeline 51 times with the
// default sinks of the reference agent: the spool takes about one
// segment, and a start adds next to nothing.
func TestFiftyOneStarts(t *testing.T) {
	dir := t.TempDir()
	startAndStop(t, dir)
	first := diskBytes(t, filepath.Join(dir, "spool"))
	for range 50 {
		startAndStop(t, dir)
	}
	total := diskBytes(t, filepath.Join(dir, "spool"))
	t.Logf("spool after 1 start: %d bytes; after 51: %d bytes", first, total)
	if total > DefaultSegmentBytes+256<<10 || total-first > 64<<10 {
		t.Errorf("spool after 51 starts: %d bytes (after the first: %d)", total, first)
	}
}

// TestOpensWithLittleFree opens a new spool on a disk with 1 MiB free, and
// with 64 KiB: it records, degraded (no room to preallocate), and says so;
// the next opens use the segment there is.
func TestOpensWithLittleFree(t *testing.T) {
	for _, free := range []int64{1 << 20, 64 << 10} {
		t.Run(strconv.FormatInt(free, 10), func(t *testing.T) { opensWith(t, free) })
	}
}

func opensWith(t *testing.T, free int64) {
	disk := smallDisk(t, 8<<20)
	filler := fill(t, disk)
	fi, _ := os.Stat(filler)
	if err := os.Truncate(filler, fi.Size()-free); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: filepath.Join(disk, "spool"), Sinks: []SinkConfig{{Sink: &AuditFiles{Dir: filepath.Join(disk, "audits")}}, {Sink: pendingSink()}}}
	for run := range 3 {
		p, err := Open(cfg)
		if err != nil {
			t.Fatalf("open %d with %d bytes free: %v", run, free, err)
		}
		for i := range 100 {
			if err := p.Record(context.Background(), Event{Type: "t", Name: strconv.Itoa(i)}); err != nil {
				t.Fatalf("open %d: Record %d: %v", run, i, err)
			}
		}
		if st := p.SpoolStatus(); st.State != StateDegraded || !strings.Contains(st.Reason, "not preallocated") {
			t.Errorf("open %d: %+v", run, st)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segmentFiles(t, cfg.Dir)); n != 1 {
		t.Errorf("%d segments after three opens", n)
	}
}

// TestSpareIsKept: a spare prepared in one run is the next run's segment,
// even when the disk has filled up in between.
func TestSpareIsKept(t *testing.T) {
	disk := smallDisk(t, 2<<20)
	cfg := Config{Dir: filepath.Join(disk, "spool"), SegmentBytes: 256 << 10}
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; p.spool.nextSeg == nil; i++ { // until the segment is half full
		if err := p.Record(context.Background(), Event{Type: "t", Name: strconv.Itoa(i), Attributes: map[string]string{"pad": strings.Repeat("x", 1000)}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close(context.Background())
	spare := filepath.Join(cfg.Dir, "segments", spareName)
	if fi, err := os.Stat(spare); err != nil || fi.Size() != cfg.SegmentBytes {
		t.Fatalf("spare after close: %v", err)
	}
	// A checkpoint past the last record makes the next open start a new
	// segment: the spare is it.
	os.MkdirAll(filepath.Join(cfg.Dir, "checkpoints"), 0o700)
	os.WriteFile(filepath.Join(cfg.Dir, "checkpoints", "s.json"), []byte(`{"seq":100000}`), 0o600)
	fill(t, disk)
	cfg.Sinks = []SinkConfig{{Sink: newMemSink("s")}}
	p, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if err := p.Record(context.Background(), Event{Type: "t", Name: "after"}); err != nil {
		t.Fatal(err)
	}
	if st := p.SpoolStatus(); st.State != StateOK {
		t.Errorf("%+v", st)
	}
	if _, err := os.Stat(spare); err == nil {
		t.Error("the spare is still there: it was not used")
	}
}
