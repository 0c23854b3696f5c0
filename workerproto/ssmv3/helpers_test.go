package ssmv3

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a respondent process; helperEnv selects its
// role and the two socket variables say where the core listens.
const (
	helperEnv       = "SSMV3_TEST_HELPER"
	helperHealthEnv = "SSMV3_TEST_HEALTH"
	helperTermEnv   = "SSMV3_TEST_TERM"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

// helperMain is the respondent process the test binary becomes:
//
//   - worker: an ssmv3.Worker that exits 0 when the core asks it to
//     terminate, 3 if its context ends for another reason;
//   - silent: connects to the health socket, handshakes, reads every survey
//     and never answers; exits 0 when the core closes the connection;
//   - halfframe: connects to the health socket, handshakes, reads one survey,
//     writes half a reply frame and exits 0.
func helperMain(mode string) int {
	health, term := os.Getenv(helperHealthEnv), os.Getenv(helperTermEnv)
	switch mode {
	case "worker":
		w := &Worker{HealthSocket: health, TerminationSocket: term, RedialInterval: 50 * time.Millisecond}
		err := w.Serve(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			if cause := context.Cause(ctx); !errors.Is(cause, ErrTerminated) {
				return cause
			}
			return nil
		})
		if err != nil {
			os.Stderr.WriteString("helper worker: " + err.Error() + "\n")
			return 3
		}
		return 0
	case "silent", "halfframe":
		c, err := net.Dial("unix", health)
		if err != nil {
			os.Stderr.WriteString("helper: " + err.Error() + "\n")
			return 2
		}
		if err := handshake(c, ProtoRespondent, ProtoSurveyor); err != nil {
			os.Stderr.WriteString("helper: " + err.Error() + "\n")
			return 2
		}
		if mode == "silent" {
			for {
				if _, err := ReadFrame(c, 0); err != nil {
					return 0
				}
			}
		}
		frame, err := ReadFrame(c, 0)
		if err != nil {
			return 2
		}
		half := binary.BigEndian.AppendUint64([]byte{0x01}, 100)
		half = append(half, frame[:4]...) // the survey id, then nothing more
		half = append(half, "{\"Sch"...)
		if _, err := c.Write(half); err != nil {
			return 2
		}
		return 0
	}
	os.Stderr.WriteString("helper: unknown mode " + mode + "\n")
	return 2
}

// testTimeout bounds every wait in these tests; none should come near it.
const testTimeout = 10 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// socketDir returns a new private directory with a short path: t.TempDir
// paths can exceed the length Unix socket paths allow.
func socketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ssmv3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// socketPair returns the paths of a health and a termination socket in a
// new directory, in an ipc/ subdirectory that does not exist yet.
func socketPair(t testing.TB) (health, term string) {
	dir := filepath.Join(socketDir(t), "ipc")
	return filepath.Join(dir, "health"), filepath.Join(dir, "termination")
}

// listen starts a Surveyor on a new socket; it is closed at cleanup.
func listen(t testing.TB) *Surveyor {
	t.Helper()
	s, err := Listen(filepath.Join(socketDir(t), "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listenCore starts a Core on new sockets; it is closed at cleanup.
func listenCore(t testing.TB, deadline time.Duration) *Core {
	t.Helper()
	h, term := socketPair(t)
	c, err := ListenCore(CoreConfig{HealthSocket: h, TerminationSocket: term, SurveyDeadline: deadline})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds, and fails the test if it does not
// within testTimeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitRespondents waits until exactly n respondents are connected to s.
func waitRespondents(t testing.TB, s *Surveyor, n int) {
	t.Helper()
	eventually(t, "the respondents to connect", func() bool { return len(s.Respondents()) == n })
}

// rawPeer is a hand-driven end of a connection, for feeding the package
// bytes that it would never send itself and checking the bytes it sends.
type rawPeer struct {
	t testing.TB
	c net.Conn
}

func newRawPeer(t testing.TB, c net.Conn) *rawPeer {
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, c: c}
}

// dialRaw connects to path without any handshake.
func dialRaw(t testing.TB, path string) *rawPeer {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return newRawPeer(t, c)
}

// respondent connects to the surveyor s as a raw respondent, handshakes and
// waits until s counts it.
func respondent(t testing.TB, s *Surveyor) *rawPeer {
	t.Helper()
	n := len(s.Respondents())
	p := dialRaw(t, s.Path())
	p.handshake(ProtoRespondent, ProtoSurveyor)
	waitRespondents(t, s, n+1)
	return p
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

// readN reads exactly n bytes.
func (p *rawPeer) readN(n int) []byte {
	p.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(p.c, b); err != nil {
		p.t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// handshake sends own's header and checks that the peer sent exactly
// peer's.
func (p *rawPeer) handshake(own, peer uint16) {
	p.t.Helper()
	h := Header(own)
	p.write(h[:])
	want := Header(peer)
	if got := p.readN(8); !bytes.Equal(got, want[:]) {
		p.t.Fatalf("peer's header % x, want % x", got, want)
	}
}

// recvSurvey reads one request frame, checks its framing byte by byte, and
// returns its survey id and body.
func (p *rawPeer) recvSurvey() (uint32, []byte) {
	p.t.Helper()
	head := p.readN(9)
	if head[0] != 0x01 {
		p.t.Fatalf("frame starts with 0x%02x, want 0x01", head[0])
	}
	n := binary.BigEndian.Uint64(head[1:])
	if n < 4 || n > MaxFrameSize {
		p.t.Fatalf("frame of %d bytes", n)
	}
	frame := p.readN(int(n))
	id := binary.BigEndian.Uint32(frame)
	if id&0x80000000 == 0 {
		p.t.Fatalf("survey id 0x%08x lacks the top bit", id)
	}
	return id, frame[4:]
}

// reply answers survey id with body.
func (p *rawPeer) reply(id uint32, body []byte) {
	p.t.Helper()
	p.write(replyFrame(id, body))
}

// replyFrame is a reply frame built by hand, not by WriteFrame.
func replyFrame(id uint32, body []byte) []byte {
	b := []byte{0x01}
	b = binary.BigEndian.AppendUint64(b, uint64(4+len(body)))
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, body...)
}

// expectClosed reads until the other end closes the connection, and fails
// if it sends anything more than allow bytes first. A reset counts as a
// close: it is what closing with unread bytes does.
func (p *rawPeer) expectClosed(allow int) {
	p.t.Helper()
	n, err := io.Copy(io.Discard, p.c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		p.t.Fatalf("waiting for the peer to close: %v", err)
	}
	if int(n) > allow {
		p.t.Fatalf("the peer sent %d more bytes before closing", n)
	}
}

// healthBody is a valid health result for pid, as a respondent sends it.
func healthBody(pid int) []byte {
	return HealthResult(Health{Name: "raw", WorkerType: WorkerTypeLongRunning, Pid: pid}).Marshal()
}

// surveyResult is what a Survey run in the background returned.
type surveyResult struct {
	replies []Reply
	err     error
	ctxErr  error // the context's error as Survey returned: nil if it returned early
	elapsed time.Duration
}

// surveyAsync runs s.Survey in the background.
func surveyAsync(s *Surveyor, ctx context.Context, body []byte, to func(int) bool) <-chan surveyResult {
	ch := make(chan surveyResult, 1)
	go func() {
		t0 := time.Now()
		r, err := s.Survey(ctx, body, to)
		ch <- surveyResult{replies: r, err: err, ctxErr: ctx.Err(), elapsed: time.Since(t0)}
	}()
	return ch
}

// await waits for a background survey's result.
func await[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(2 * testTimeout):
		t.Fatal("timed out waiting for a result")
		panic("unreachable")
	}
}

// served is a Worker running in a goroutine.
type served struct {
	ctx    chan context.Context // the context the worker's code got
	stop   chan struct{}        // closing it makes the worker's code return
	done   chan struct{}        // closed when Serve has returned
	result error                // Serve's result, once done is closed
}

// serveWorker runs w.Serve with code that reports its context and returns
// ret when its context ends or stop is closed. Serve is stopped at cleanup.
func serveWorker(t testing.TB, w *Worker, ret error) *served {
	t.Helper()
	if w.RedialInterval == 0 {
		w.RedialInterval = 50 * time.Millisecond
	}
	s := &served{ctx: make(chan context.Context, 1), stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(s.done)
		s.result = w.Serve(ctx, func(ctx context.Context) error {
			s.ctx <- ctx
			select {
			case <-ctx.Done():
			case <-s.stop:
			}
			return ret
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(testTimeout):
			t.Error("Serve did not return")
		}
	})
	return s
}

// context waits for the context the worker's code runs with.
func (s *served) context(t testing.TB) context.Context {
	t.Helper()
	select {
	case ctx := <-s.ctx:
		s.ctx <- ctx
		return ctx
	case <-time.After(testTimeout):
		t.Fatal("the worker's code did not start")
		return nil
	}
}

// wait waits for Serve to return and returns its result.
func (s *served) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-s.done:
		return s.result
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return")
		return nil
	}
}
