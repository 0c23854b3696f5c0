package telemetry

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const producerEnv = "TELEMETRY_TEST_PRODUCER" // the spool directory

func TestMain(m *testing.M) {
	if dir := os.Getenv(producerEnv); dir != "" {
		producerMain(dir)
		return
	}
	os.Exit(m.Run())
}

// idFile is a sink that appends each event's ID as a line to a file and
// syncs it: what it holds was delivered.
type idFile struct{ path string }

func (s idFile) Name() string { return "ids" }

func (s idFile) Send(ctx context.Context, events []Event) (int, error) {
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b strings.Builder
	// A crash may have cut the last line: start on a new one.
	if fi, _ := f.Stat(); fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			b.WriteByte('\n')
		}
	}
	for _, e := range events {
		b.WriteString(e.ID + "\n")
	}
	if _, err := f.WriteString(b.String()); err != nil {
		return 0, err
	}
	return len(events), f.Sync()
}

func crashConfig(dir string) Config {
	return Config{Dir: filepath.Join(dir, "spool"), SegmentBytes: 64 << 10, Sinks: []SinkConfig{{
		Sink: idFile{filepath.Join(dir, "delivered")}, FlushInterval: time.Millisecond, MaxBatch: 100,
		RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond,
	}}}
}

// producerMain records events from four goroutines while delivering them,
// and prints each event's ID once Record has returned nil for it. It runs
// until it is killed.
func producerMain(dir string) {
	p, err := Open(crashConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go p.Serve(context.Background())
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for range 4 {
		go func() {
			for {
				e := Event{ID: newID(), Type: "t", Name: "crash-test"}
				if err := p.Record(context.Background(), e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				out.WriteString(e.ID + "\n")
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestCrashLosesNothing kills a producer with SIGKILL at random moments,
// many times; afterwards every event whose Record returned nil is
// delivered, and the duplicates are at most one batch per crash.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts many processes")
	}
	dir := t.TempDir()
	const runs = 15
	acked := map[string]bool{}
	r := rand.New(rand.NewPCG(7, 11))
	for run := range runs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), producerEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for want := 20 + r.IntN(400); want > 0 && sc.Scan(); want-- {
			acked[sc.Text()] = true
		}
		cmd.Process.Kill()
		for sc.Scan() { // what it printed before it died
			acked[sc.Text()] = true
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("run %d: producer ended with %v, want killed", run, err)
		}
	}
	// A last, clean run delivers whatever is left.
	p, err := Open(crashConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "delivered"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) == 2*idRandomBytes { // a line cut by a crash is not an ID
			seen[line]++
		}
	}
	missing, dups := 0, 0
	for id := range acked {
		if seen[id] == 0 {
			missing++
		}
	}
	for _, n := range seen {
		dups += n - 1
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events were never delivered", missing, len(acked))
	}
	if dups > runs*100 {
		t.Errorf("%d duplicates, more than one batch (100) per crash", dups)
	}
	t.Logf("%d acknowledged events, %d delivered, %d duplicates over %d crashes", len(acked), len(seen), dups, runs)
}
