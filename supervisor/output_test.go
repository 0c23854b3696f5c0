//go:build linux

package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	outLogEnv    = "OUTCORE_LOG"
	outStateEnv  = "OUTCORE_STATE"
	outWorkerEnv = "OUTCORE_WORKER" // the worker's helper mode, instead of a ticker
	outStopEnv   = "OUTCORE_STOP"   // SIGTERM stops the workers rather than detaching
	outUpEnv     = "OUTCORE_UP"     // print "up" before Serve
	tagEnv       = "HELPER_TAG"
	outSocketEnv = "OUTCORE_SOCKET" // the workerproto socket
)

// helperTicker prints a numbered line every 10 ms, for ever. SIGPIPE keeps
// Go's default: a write to a pipe without a reader kills it.
func helperTicker() int {
	t := time.NewTicker(10 * time.Millisecond)
	for i := 0; ; i++ {
		if _, err := fmt.Printf("seq %d\n", i); err != nil {
			return 4
		}
		<-t.C
	}
}

// helperOutputCore supervises one ticker writing to its log file; it
// prints the ticker's pid once it runs it. SIGTERM is an update handover:
// it detaches and exits.
func helperOutputCore() int {
	spec := helperSpec("ticker", "ticker")
	if mode := os.Getenv(outWorkerEnv); mode != "" {
		spec = helperSpec("worker", mode, tagEnv+"="+os.Getenv(tagEnv))
	}
	if mode := os.Getenv(outWorkerEnv); mode == "workerproto" {
		spec.Protocol = ProtocolWorkerproto
	}
	if p := os.Getenv(outLogEnv); p != "" {
		spec.Output = Output{Mode: OutputFile, Path: p}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(Config{StateDir: os.Getenv(outStateEnv), Socket: os.Getenv(outSocketEnv), OnEvent: func(e Event) {
		if e.Kind == EventStarted || e.Kind == EventAdopted {
			fmt.Println(e.PID)
		}
	}})
	if err == nil {
		err = s.Add(spec)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		if os.Getenv(outStopEnv) == "" {
			s.Detach()
		}
		cancel()
	}()
	if err == nil {
		if os.Getenv(outUpEnv) != "" {
			fmt.Println("up")
		}
		err = s.Serve(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startOutputCore starts a core process and returns it with the pid of
// the ticker it runs.
func startOutputCore(t *testing.T, logPath, stateDir string) (*exec.Cmd, int) {
	t.Helper()
	core := exec.Command(os.Args[0], "-test.run=^$")
	core.Env = append(os.Environ(), helperEnv+"=outcore", outLogEnv+"="+logPath, outStateEnv+"="+stateDir)
	core.Stderr = os.Stderr
	out, err := core.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		core.Process.Kill()
		core.Wait()
		t.Fatalf("reading the ticker's pid from the core: %q %v", line, err)
	}
	return core, pid
}

// logSeqs returns the sequence numbers in the log, in order.
func logSeqs(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for _, line := range strings.Split(string(b), "\n") {
		if n, ok := strings.CutPrefix(line, "seq "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				seqs = append(seqs, v)
			}
		}
	}
	return seqs
}

func lastSeq(t *testing.T, path string) int {
	s := logSeqs(t, path)
	if len(s) == 0 {
		return -1
	}
	return s[len(s)-1]
}

// waitSeq waits until the log holds a line numbered at least n.
func waitSeq(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for lastSeq(t, path) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log never reached line %d", n)
		}
		time.Sleep(2 * time.Millisecond) // polling a file, with a deadline
	}
}

// TestOutputOutlivesCore kills the core of a worker that prints a line
// every 10 ms twenty times, and hands it over once: the worker keeps its
// pid, and every line, those written while no core ran included, is in
// its log.
func TestOutputOutlivesCore(t *testing.T) {
	dir := privateDir(t)
	logPath, stateDir := filepath.Join(dir, "ticker.log"), filepath.Join(dir, "state")
	var pid, withoutCore int
	for i := range 21 {
		core, p := startOutputCore(t, logPath, stateDir)
		if i == 0 {
			pid = p
			t.Cleanup(func() { killGroup(pid) })
		} else if p != pid {
			core.Process.Kill()
			core.Wait()
			t.Fatalf("round %d: the core runs ticker %d, want the adopted %d", i, p, pid)
		}
		if i < 20 {
			core.Process.Kill()
		} else {
			core.Process.Signal(syscall.SIGTERM) // the update handover
		}
		core.Wait()
		// The worker writes on with no core: wait for three lines of it.
		k := lastSeq(t, logPath)
		waitSeq(t, logPath, k+3)
		withoutCore += lastSeq(t, logPath) - k
	}
	core, p := startOutputCore(t, logPath, stateDir)
	core.Process.Kill()
	core.Wait()
	if p != pid {
		t.Fatalf("after the handover the core runs ticker %d, want %d", p, pid)
	}
	seqs := logSeqs(t, logPath)
	lost, dup := 0, 0
	for i := 1; i < len(seqs); i++ {
		switch d := seqs[i] - seqs[i-1]; {
		case d > 1:
			lost += d - 1
		case d < 1:
			dup++
		}
	}
	t.Logf("%d lines, %d written while no core ran; lost %d, out of order %d", len(seqs), withoutCore, lost, dup)
	if seqs[0] != 0 || lost != 0 || dup != 0 {
		t.Fatalf("log starts at line %d, %d lines lost, %d out of order", seqs[0], lost, dup)
	}
	if gone(pid) {
		t.Fatal("the ticker died")
	}
}

// TestOutputRotation rotates the log of a live ticker: the files stay
// bounded and the lines run on from the rotated file into the current one.
func TestOutputRotation(t *testing.T) {
	dir := privateDir(t)
	logPath := filepath.Join(dir, "ticker.log")
	spec := helperSpec("ticker", "ticker")
	spec.Output = Output{Mode: OutputFile, Path: logPath, MaxBytes: 200, Keep: 2}
	sv := serve(t, Config{}, spec)
	from := 0
	sv.rec.waitFor(t, &from, EventStarted, nil)
	deadline := time.Now().Add(testTimeout)
	for {
		if _, err := os.Stat(logPath + ".2"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log was never rotated twice")
		}
		time.Sleep(10 * time.Millisecond) // rotation runs every second
	}
	sv.stop(t)
	var all []int
	for _, p := range []string{logPath + ".2", logPath + ".1", logPath} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s has mode %#o, want 0640", p, fi.Mode().Perm())
		}
		all = append(all, logSeqs(t, p)...)
	}
	lost := 0
	for i := 1; i < len(all); i++ {
		if d := all[i] - all[i-1]; d != 1 {
			lost += d - 1
		}
	}
	t.Logf("%d lines across the rotations, %d lost", len(all), lost)
	if lost != 0 {
		t.Errorf("%d lines lost in rotation", lost)
	}
}

// TestOutputJournal gives a worker a journal stream: the header names the
// worker, and its lines reach the (fake) journal.
func TestOutputJournal(t *testing.T) {
	dir := privateDir(t)
	sock := filepath.Join(dir, "journal.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := helperSpec("ticker", "ticker")
	spec.Output = Output{Mode: OutputJournal, JournalSocket: sock, Identifier: "ticker-id"}
	serve(t, Config{}, spec)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	r := bufio.NewReader(c)
	var got []string
	for len(got) < 9 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, strings.TrimSuffix(line, "\n"))
	}
	want := []string{"ticker-id", "", "6", "1", "0", "0", "0", "seq 0", "seq 1"}
	if !slices.Equal(got, want) {
		t.Fatalf("journal stream = %q, want %q", got, want)
	}
}

func TestOutputSpec(t *testing.T) {
	for _, tc := range []struct {
		out  Output
		std  bool
		want string
	}{
		{Output{Mode: "tty"}, false, "Output.Mode: unknown mode"},
		{Output{Mode: OutputFile}, false, "Output.Path: empty"},
		{Output{Mode: OutputAuto, Path: "rel.log"}, false, "not absolute"},
		{Output{Mode: OutputFile, Path: "/x.log"}, true, "Stdout or Stderr is set"},
		{Output{Mode: OutputFile, Path: "/x.log", MaxBytes: -1}, false, "Output.MaxBytes: negative"},
		{Output{Mode: OutputJournal, Identifier: "a\nb"}, false, "Output.Identifier"},
	} {
		s := Spec{Name: "w", Path: "/bin/true", Output: tc.out}
		if tc.std {
			s.Stdout = os.Stdout
		}
		if _, err := s.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.out, err, tc.want)
		}
	}
}

// TestOutputFileReplacesLinks: a symbolic or hard link planted at the log
// path is never written through: the name gets a file of the worker's own.
func TestOutputFileReplacesLinks(t *testing.T) {
	for _, hard := range []bool{false, true} {
		dir := privateDir(t)
		target := filepath.Join(dir, "target")
		os.WriteFile(target, []byte("keep"), 0o600)
		link := filepath.Join(dir, "w.log")
		if hard {
			os.Link(target, link)
		} else {
			os.Symlink(target, link)
		}
		f, err := openLogFile(link)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("worker line\n")
		f.Close()
		if b, _ := os.ReadFile(target); string(b) != "keep" {
			t.Errorf("hard %v: the link's target became %q", hard, b)
		}
		if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("hard %v: the log is %v, %v", hard, fi.Mode(), err)
		}
	}
}

// TestRotateLogUnderWrites rotates a log 20 times while a writer appends
// numbered lines to it as fast as it can through its own O_APPEND
// descriptor: the files kept hold an unbroken run of lines up to the last
// one written (on ext4 and XFS, where the head of the file is moved out in
// place; tmpfs falls back to copy and truncate).
func TestRotateLogUnderWrites(t *testing.T) {
	dir := privateDir(t)
	path := filepath.Join(dir, "w.log")
	f, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop, stopped := make(chan struct{}), make(chan int)
	go func() {
		i := 0
		for ; ; i++ {
			select {
			case <-stop:
				stopped <- i - 1
				return
			default:
			}
			fmt.Fprintf(f, "seq %d\n", i)
		}
	}()
	rotations := 0
	deadline := time.Now().Add(testTimeout)
	for rotations < 20 && time.Now().Before(deadline) {
		ok, err := rotateLog(path, 16<<10, 3)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			rotations++
		}
	}
	close(stop)
	last := <-stopped
	var all []byte
	for _, p := range []string{path + ".3", path + ".2", path + ".1", path} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	var seqs []int
	for i, line := range strings.Split(strings.TrimSuffix(string(all), "\n"), "\n") {
		n, ok := strings.CutPrefix(line, "seq ")
		v, err := strconv.Atoi(n)
		if i == 0 && (!ok || err != nil) {
			continue // the end of a line whose start was in a file rotated away
		}
		if !ok || err != nil {
			t.Fatalf("a broken line %q", line)
		}
		seqs = append(seqs, v)
	}
	lost := 0
	for i := 1; i < len(seqs); i++ {
		lost += seqs[i] - seqs[i-1] - 1
	}
	t.Logf("%d rotations under %d lines written; the kept files hold lines %d to %d, %d lost", rotations, last+1, seqs[0], seqs[len(seqs)-1], lost)
	if lost != 0 && !canMoveHead(t, dir) {
		t.Logf("this file system cannot remove a file's head: rotation copies and truncates, and lost %d lines of a writer that never pauses", lost)
		lost = 0
	}
	if rotations < 20 || lost != 0 || seqs[len(seqs)-1] != last {
		t.Fatalf("%d rotations, %d lines lost, last line %d of %d", rotations, lost, seqs[len(seqs)-1], last)
	}
}

// canMoveHead reports whether the file system of dir removes the head of a
// file in place.
func canMoveHead(t *testing.T, dir string) bool {
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	f.Write(make([]byte, 1<<16))
	out, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	return moveHead(f, out, 1<<16)
}
