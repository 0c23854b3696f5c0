package ssmv3

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// wantPID is the process id a Reply from this process carries.
func wantPID() int {
	if runtime.GOOS == "linux" {
		return os.Getpid()
	}
	return 0
}

// TestSurveyCollectsReply: the survey goes out with a fresh id with the top
// bit set, the reply echoing it is collected, and the survey returns as
// soon as every respondent answered.
func TestSurveyCollectsReply(t *testing.T) {
	s := listen(t)
	r := respondent(t, s)
	ctx := testContext(t)

	res := surveyAsync(s, ctx, []byte("question"), nil)
	id, body := r.recvSurvey()
	if string(body) != "question" {
		t.Fatalf("survey body %q", body)
	}
	r.reply(id, []byte("answer"))
	got := await(t, res)
	if got.err != nil || got.ctxErr != nil {
		t.Fatalf("Survey = %v (context %v)", got.err, got.ctxErr)
	}
	if len(got.replies) != 1 || string(got.replies[0].Body) != "answer" || got.replies[0].PID != wantPID() {
		t.Fatalf("replies %+v, want one answer from pid %d", got.replies, wantPID())
	}

	// The next survey's id counts up from the last.
	res = surveyAsync(s, ctx, HealthRequest().Marshal(), nil)
	id2, body := r.recvSurvey()
	if (id2-id)&0x7fffffff != 1 {
		t.Errorf("survey ids 0x%08x then 0x%08x, want counting up", id, id2)
	}
	if string(body) != wantHealthRequest {
		t.Errorf("survey body %s", body)
	}
	r.reply(id2, []byte("second"))
	if got := await(t, res); len(got.replies) != 1 || string(got.replies[0].Body) != "second" {
		t.Errorf("replies %+v", got.replies)
	}
}

// TestSurveyExactFrame checks the request frame byte by byte.
func TestSurveyExactFrame(t *testing.T) {
	s := listen(t)
	r := respondent(t, s)
	res := surveyAsync(s, testContext(t), []byte("{}"), nil)
	frame := r.readN(15)
	want := []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0x06}
	if !bytes.Equal(frame[:9], want) || frame[9]&0x80 == 0 || string(frame[13:]) != "{}" {
		t.Fatalf("request frame % x, want % x, an id with the top bit, {}", frame, want)
	}
	r.write(append(append([]byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0x06}, frame[9:13]...), "ok"...))
	if got := await(t, res); len(got.replies) != 1 || string(got.replies[0].Body) != "ok" {
		t.Errorf("replies %+v", got.replies)
	}
}

// TestSurveyDropsLateReply: a reply carrying an earlier survey's id is
// dropped, after that survey's deadline and while the next one runs.
func TestSurveyDropsLateReply(t *testing.T) {
	s := listen(t)
	r := respondent(t, s)

	ctx1, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := surveyAsync(s, ctx1, []byte("one"), nil)
	id1, _ := r.recvSurvey()
	got := await(t, res)
	if len(got.replies) != 0 || got.ctxErr == nil {
		t.Fatalf("first survey: %+v, want no replies at its deadline", got)
	}
	r.reply(id1, []byte("late, between surveys"))

	res = surveyAsync(s, testContext(t), []byte("two"), nil)
	id2, _ := r.recvSurvey()
	if id2 == id1 {
		t.Fatalf("two surveys with id 0x%08x", id1)
	}
	r.reply(id1, []byte("late, during the next"))
	r.reply(id2^0x40000000, []byte("another id"))
	r.reply(id2, []byte("current"))
	got = await(t, res)
	if len(got.replies) != 1 || string(got.replies[0].Body) != "current" {
		t.Fatalf("second survey's replies %q, want only the current one", bodies(got.replies))
	}
	if got.ctxErr != nil {
		t.Errorf("the second survey ran to its deadline")
	}
}

func bodies(rs []Reply) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Body))
	}
	slices.Sort(out)
	return out
}

// TestSurveyCancelsPrevious: a new survey ends the one before — it
// returns at once, not at its deadline — and the replies to it are dropped.
func TestSurveyCancelsPrevious(t *testing.T) {
	s := listen(t)
	r := respondent(t, s)
	ctx := testContext(t)

	res1 := surveyAsync(s, ctx, []byte("one"), nil)
	id1, _ := r.recvSurvey()
	res2 := surveyAsync(s, ctx, []byte("two"), nil)
	id2, _ := r.recvSurvey()

	got1 := await(t, res1)
	if got1.err != nil || got1.ctxErr != nil || len(got1.replies) != 0 {
		t.Errorf("the cancelled survey returned %+v, want no replies before its deadline", got1)
	}
	r.reply(id1, []byte("to the first"))
	r.reply(id2, []byte("to the second"))
	got2 := await(t, res2)
	if len(got2.replies) != 1 || string(got2.replies[0].Body) != "to the second" {
		t.Errorf("second survey's replies %q", bodies(got2.replies))
	}
}

// TestSurveyCancelKeepsReplies: replies collected before a survey is
// cancelled are returned.
func TestSurveyCancelKeepsReplies(t *testing.T) {
	s := listen(t)
	a, b := respondent(t, s), respondent(t, s)
	ctx := testContext(t)
	res1 := surveyAsync(s, ctx, []byte("one"), nil)
	idA, _ := a.recvSurvey()
	idB, _ := b.recvSurvey()
	if idA != idB {
		t.Fatalf("one survey, ids 0x%08x and 0x%08x", idA, idB)
	}
	a.reply(idA, []byte("a"))
	// The reply is in once b's next survey is the survey after it.
	eventually(t, "a's reply", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cur != nil && len(s.cur.replies) == 1
	})
	res2 := surveyAsync(s, ctx, []byte("two"), nil)
	if got := await(t, res1); len(got.replies) != 1 || string(got.replies[0].Body) != "a" || got.ctxErr != nil {
		t.Errorf("cancelled survey: %+v, want a's reply at once", got)
	}
	idA, _ = a.recvSurvey()
	idB, _ = b.recvSurvey()
	a.reply(idA, []byte("a2"))
	b.reply(idB, []byte("b2"))
	if got := await(t, res2); !slices.Equal(bodies(got.replies), []string{"a2", "b2"}) {
		t.Errorf("second survey's replies %q", bodies(got.replies))
	}
}

// TestSurveySeveralRespondents: every respondent on the socket gets the
// survey and every answer is collected, once per respondent.
func TestSurveySeveralRespondents(t *testing.T) {
	s := listen(t)
	const n = 5
	var rs []*rawPeer
	for range n {
		rs = append(rs, respondent(t, s))
	}
	res := surveyAsync(s, testContext(t), []byte("all"), nil)
	var want []string
	for i, r := range rs {
		id, body := r.recvSurvey()
		if string(body) != "all" {
			t.Fatalf("respondent %d got %q", i, body)
		}
		if i == 0 { // a second answer from one respondent is dropped
			r.reply(id, []byte("r0 again"))
		}
		r.reply(id, fmt.Appendf(nil, "r%d", i))
		want = append(want, fmt.Sprintf("r%d", i))
	}
	got := await(t, res)
	if got.ctxErr != nil {
		t.Error("the survey waited for its deadline")
	}
	if b := bodies(got.replies); !slices.Equal(b, want) && !slices.Equal(b, append([]string{"r0 again"}, want[1:]...)) {
		t.Errorf("replies %q, want one from each of %q", b, want)
	}
	for _, r := range got.replies {
		if r.PID != wantPID() {
			t.Errorf("reply from pid %d, want %d", r.PID, wantPID())
		}
	}
}

// TestSurveyEarlyOrDeadline: a survey returns as soon as every respondent
// surveyed answered, and at its deadline when one never does.
func TestSurveyEarlyOrDeadline(t *testing.T) {
	s := listen(t)
	a, b := respondent(t, s), respondent(t, s)

	const deadline = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	res := surveyAsync(s, ctx, []byte("q"), nil)
	id, _ := a.recvSurvey()
	b.recvSurvey() // and b never answers
	a.reply(id, []byte("a"))
	got := await(t, res)
	if got.ctxErr == nil || got.elapsed < deadline {
		t.Errorf("survey with a silent respondent returned after %v (context %v), want at its deadline %v", got.elapsed, got.ctxErr, deadline)
	}
	if len(got.replies) != 1 || string(got.replies[0].Body) != "a" {
		t.Errorf("replies %q", bodies(got.replies))
	}

	res = surveyAsync(s, testContext(t), []byte("q"), nil)
	idA, _ := a.recvSurvey()
	idB, _ := b.recvSurvey()
	a.reply(idA, []byte("a"))
	b.reply(idB, []byte("b"))
	if got := await(t, res); got.ctxErr != nil || !slices.Equal(bodies(got.replies), []string{"a", "b"}) {
		t.Errorf("survey answered by all: %+v", got)
	}
}

// TestSurveyTargets: only the respondents accepted by the filter are
// surveyed and waited for; with none, Survey returns at once.
func TestSurveyTargets(t *testing.T) {
	s := listen(t)
	r := respondent(t, s)
	ctx := testContext(t)
	var asked []int
	replies, err := s.Survey(ctx, []byte("nobody"), func(pid int) bool { asked = append(asked, pid); return false })
	if err != nil || len(replies) != 0 || ctx.Err() != nil {
		t.Fatalf("Survey to nobody = %v, %v", replies, err)
	}
	if !slices.Equal(asked, []int{wantPID()}) {
		t.Errorf("filter asked about %v, want [%d]", asked, wantPID())
	}
	res := surveyAsync(s, ctx, []byte("everybody"), func(int) bool { return true })
	id, body := r.recvSurvey()
	if string(body) != "everybody" {
		t.Fatalf("the respondent got %q, want only the survey it was targeted by", body)
	}
	r.reply(id, nil)
	if got := await(t, res); len(got.replies) != 1 || len(got.replies[0].Body) != 0 {
		t.Errorf("replies %+v", got.replies)
	}
}

// TestSurveyNoRespondents: with nobody connected a survey returns at once.
func TestSurveyNoRespondents(t *testing.T) {
	s := listen(t)
	ctx := testContext(t)
	replies, err := s.Survey(ctx, []byte("anyone?"), nil)
	if err != nil || len(replies) != 0 || ctx.Err() != nil {
		t.Errorf("Survey = %v, %v", replies, err)
	}
}

// TestSurveyLateJoiner: a respondent that connects after a survey was sent
// is neither surveyed nor waited for, and is surveyed the next time.
func TestSurveyLateJoiner(t *testing.T) {
	s := listen(t)
	a := respondent(t, s)
	ctx := testContext(t)
	res := surveyAsync(s, ctx, []byte("one"), nil)
	id1, _ := a.recvSurvey()
	b := respondent(t, s)
	b.reply(id1, []byte("b, unasked"))
	a.reply(id1, []byte("a"))
	if got := await(t, res); got.ctxErr != nil || !slices.Equal(bodies(got.replies), []string{"a"}) {
		t.Errorf("replies %q (context %v), want a's alone at once", bodies(got.replies), got.ctxErr)
	}
	res = surveyAsync(s, ctx, []byte("two"), nil)
	id2, body := b.recvSurvey()
	if string(body) != "two" {
		t.Fatalf("the late joiner got %q", body)
	}
	a.recvSurvey()
	b.reply(id2, []byte("b"))
	a.reply(id2, []byte("a"))
	if got := await(t, res); !slices.Equal(bodies(got.replies), []string{"a", "b"}) {
		t.Errorf("replies %q", bodies(got.replies))
	}
}

// TestSurveyorDropsBadRespondents: a connection that sends a wrong header,
// garbage, a frame over the limit or a reply without a survey id is closed,
// and the well-behaved respondent keeps answering.
func TestSurveyorDropsBadRespondents(t *testing.T) {
	s := listen(t)
	good := respondent(t, s)

	before := []struct {
		name  string
		bytes []byte
	}{
		{"surveyor header", surveyorHeader},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"respondent header, wrong version", []byte{0x00, 'S', 'P', 0x01, 0x00, 0x63, 0x00, 0x00}},
	}
	for _, c := range before {
		p := dialRaw(t, s.Path())
		if got := p.readN(8); !bytes.Equal(got, surveyorHeader) {
			t.Errorf("%s: surveyor sent % x, want % x", c.name, got, surveyorHeader)
		}
		p.write(c.bytes)
		p.expectClosed(0)
	}
	t.Run("truncated header", func(t *testing.T) {
		p := dialRaw(t, s.Path())
		p.write(respondentHeader[:5])
		p.c.(*net.UnixConn).CloseWrite()
		p.readN(8)
		p.expectClosed(0)
	})

	after := []struct {
		name  string
		bytes []byte
	}{
		{"bad message byte", append([]byte{0x02, 0, 0, 0, 0, 0, 0, 0, 4}, 0x80, 0, 0, 1)},
		{"reply without the top bit", replyFrame(0x00000001, []byte("x"))},
		{"reply shorter than an id", []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 2, 0x80, 0}},
		{"over the limit", frameHead(MaxFrameSize + 1)},
		{"length 2^64-1", frameHead(^uint64(0))},
	}
	for _, c := range after {
		p := respondent(t, s)
		p.write(c.bytes)
		p.expectClosed(0)
		waitRespondents(t, s, 1)
	}

	res := surveyAsync(s, testContext(t), []byte("still there?"), nil)
	id, _ := good.recvSurvey()
	good.reply(id, []byte("yes"))
	if got := await(t, res); got.ctxErr != nil || !slices.Equal(bodies(got.replies), []string{"yes"}) {
		t.Errorf("replies %q (context %v)", bodies(got.replies), got.ctxErr)
	}
}

// TestSurveyorDropsOversizeDuringSurvey: a respondent that answers a
// survey with a frame over the limit is closed without its body being
// read, and the survey stops waiting for it.
func TestSurveyorDropsOversizeDuringSurvey(t *testing.T) {
	s := listen(t)
	good, bad := respondent(t, s), respondent(t, s)
	res := surveyAsync(s, testContext(t), []byte("q"), nil)
	id, _ := bad.recvSurvey()
	head := frameHead(MaxFrameSize + 1)
	bad.write(binary.BigEndian.AppendUint32(head, id))
	bad.expectClosed(0)
	id, _ = good.recvSurvey()
	good.reply(id, []byte("good"))
	got := await(t, res)
	if got.ctxErr != nil || !slices.Equal(bodies(got.replies), []string{"good"}) {
		t.Errorf("replies %q (context %v), want the good one's at once", bodies(got.replies), got.ctxErr)
	}
	waitRespondents(t, s, 1)
}

// TestSurveyorRespondentGoneDuringSurvey: a respondent that disconnects is
// no longer waited for.
func TestSurveyorRespondentGoneDuringSurvey(t *testing.T) {
	s := listen(t)
	a, b := respondent(t, s), respondent(t, s)
	res := surveyAsync(s, testContext(t), []byte("q"), nil)
	b.recvSurvey()
	b.c.Close()
	id, _ := a.recvSurvey()
	a.reply(id, []byte("a"))
	if got := await(t, res); got.ctxErr != nil || !slices.Equal(bodies(got.replies), []string{"a"}) {
		t.Errorf("replies %q (context %v)", bodies(got.replies), got.ctxErr)
	}
	waitRespondents(t, s, 1)
}

func TestListenReplacesStaleSocket(t *testing.T) {
	t.Run("regular file", func(t *testing.T) {
		// Only a socket is replaced: a file is not the surveyor's to remove.
		path := filepath.Join(socketDir(t), "s")
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Listen(path); err == nil || !strings.Contains(err.Error(), "is not a socket") {
			if s != nil {
				s.Close()
			}
			t.Fatalf("Listen over a regular file: %v", err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
			t.Fatalf("the file after Listen: %q, %v", b, err)
		}
	})
	t.Run("dead socket", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "s")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("the stale socket is gone already: %v", err)
		}
		s, err := Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		respondent(t, s)
	})
	t.Run("live socket", func(t *testing.T) {
		s := listen(t)
		r := respondent(t, s)
		if s2, err := Listen(s.Path()); err == nil {
			s2.Close()
			t.Fatal("Listen took over a socket on which a surveyor listens")
		}
		// The first surveyor is untouched: its socket and its respondent.
		r2 := respondent(t, s)
		res := surveyAsync(s, testContext(t), []byte("q"), nil)
		id, _ := r.recvSurvey()
		r.reply(id, []byte("a"))
		id, _ = r2.recvSurvey()
		r2.reply(id, []byte("b"))
		if got := await(t, res); got.ctxErr != nil || !slices.Equal(bodies(got.replies), []string{"a", "b"}) {
			t.Errorf("replies %q", bodies(got.replies))
		}
	})
	t.Run("makes the directory", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "a", "b", "s")
		s, err := Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fi, err := os.Stat(filepath.Dir(path))
		if err != nil || !fi.IsDir() {
			t.Fatalf("directory: %v", err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&^0o750 != 0 {
			t.Errorf("directory mode %v, want at most 0750", fi.Mode().Perm())
		}
		if s.Path() != path {
			t.Errorf("Path = %s, want %s", s.Path(), path)
		}
	})
}

// TestSurveyorClose: Close disconnects the respondents, removes the socket
// file, ends a survey in progress, and makes later surveys fail.
func TestSurveyorClose(t *testing.T) {
	path := filepath.Join(socketDir(t), "s")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	r := respondent(t, s)
	pending := dialRaw(t, path) // connected, never handshakes
	res := surveyAsync(s, testContext(t), []byte("q"), nil)
	r.recvSurvey()
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if got := await(t, res); got.ctxErr != nil || len(got.replies) != 0 {
		t.Errorf("survey in progress at Close: %+v", got)
	}
	r.expectClosed(0)
	pending.expectClosed(8)
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	if _, err := s.Survey(testContext(t), []byte("q"), nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Survey after Close = %v, want net.ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
