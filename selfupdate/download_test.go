package selfupdate

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// objServer serves one object at /pkg over plain HTTP on loopback, and
// misbehaves as told.
type objServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	obj []byte
	// etag is sent as ETag, if set.
	etag string
	// cut, when > 0, makes the next response stop after that many body
	// bytes and drop the connection.
	cut int
	// stall, when set, makes the next response send half the body, close
	// stall, and wait for the client to go.
	stall chan struct{}
	// chunked leaves out the Content-Length.
	chunked bool
	// ignoreIfRange answers a range request even for another ETag.
	ignoreIfRange bool
	// badRange answers a range request from the wrong offset.
	badRange bool
	// lieLength announces a Content-Range shorter than the body sent.
	lieLength bool
	status    int    // answer with this status, if set
	redirect  string // answer with a 302 to this, if set
	ranges    []string
	full      int // whole objects sent in full
}

func newObjServer(t *testing.T, obj []byte) *objServer {
	s := &objServer{obj: obj, etag: `"` + sha256hex(obj)[:12] + `"`}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *objServer) url() string { return s.srv.URL + "/pkg" }

func (s *objServer) set(f func(s *objServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

func (s *objServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	obj, etag, cut, stall, status, redirect := s.obj, s.etag, s.cut, s.stall, s.status, s.redirect
	chunked, ignoreIfRange, badRange, lieLength := s.chunked, s.ignoreIfRange, s.badRange, s.lieLength
	s.cut, s.stall = 0, nil
	if rg := r.Header.Get("Range"); rg != "" {
		s.ranges = append(s.ranges, rg+" if-range "+r.Header.Get("If-Range"))
	}
	s.mu.Unlock()
	switch {
	case redirect != "":
		http.Redirect(w, r, redirect, http.StatusFound)
		return
	case status != 0:
		http.Error(w, "it broke", status)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	from := 0
	if rg, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
		if ifr := r.Header.Get("If-Range"); ignoreIfRange || ifr == "" || ifr == etag {
			from, _ = strconv.Atoi(strings.TrimSuffix(rg, "-"))
		}
	}
	body := obj[from:]
	if from > 0 {
		start := from
		if badRange {
			start = from + 1
		}
		end := len(obj) - 1
		if lieLength {
			end = start
		}
		w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(end)+"/"+strconv.Itoa(len(obj)))
	}
	if !chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	if from > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	switch {
	case cut > 0:
		w.Write(body[:cut])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	case stall != nil:
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		close(stall)
		<-r.Context().Done()
	default:
		w.Write(body)
		if from == 0 {
			s.mu.Lock()
			s.full++
			s.mu.Unlock()
		}
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// dirEntries lists dir's names.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// fetchTo downloads url into dir/pkg with the updater's options.
func fetchTo(ctx context.Context, dir, url, sum string, maxBytes int64) error {
	return fetch(ctx, &HTTPSource{}, fetchSpec{url: url, path: filepath.Join(dir, "pkg"), sum: sum, maxBytes: maxBytes, sweep: true})
}

func TestFailedDownloadsAreDeleted(t *testing.T) {
	obj := randomBytes(200 << 10)
	good := sha256hex(obj)
	cases := []struct {
		name  string
		setup func(s *objServer) // after a first attempt left a partial to resume
		fresh bool               // no first attempt: setup, then download
		sum   string
		max   int64
		want  string
	}{
		{name: "checksum mismatch", sum: strings.Repeat("ab", 32), want: "checksum mismatch"},
		{name: "announced over the limit", max: 100 << 10, want: "is 204800 bytes, the limit is 102400"},
		{name: "over the limit, size unknown", max: 100 << 10, fresh: true, setup: func(s *objServer) { s.chunked = true }, want: "over the limit of 102400 bytes"},
		{name: "refused redirect", setup: func(s *objServer) { s.redirect = "http://mirror.example/pkg" }, want: "redirect to http://mirror.example/pkg refused"},
		{name: "server error", setup: func(s *objServer) { s.status = http.StatusInternalServerError }, want: "500 Internal Server Error: it broke"},
		{name: "not found", setup: func(s *objServer) { s.status = http.StatusNotFound }, want: "not found"},
		{name: "resumed from the wrong offset", setup: func(s *objServer) { s.badRange = true }, want: "bad Content-Range"},
		{name: "range longer than announced", setup: func(s *objServer) { s.lieLength = true }, want: "bad Content-Range"},
		{name: "another object on resume", setup: func(s *objServer) {
			s.obj, s.etag, s.ignoreIfRange = randomBytes(200<<10), `"other"`, true
		}, sum: good, want: "checksum mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newObjServer(t, obj)
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "1.0.0-old.tar.gz.partial"), []byte("an earlier update's"), 0o600)
			if c.fresh {
				s.set(c.setup)
			} else if c.setup != nil { // first a download cut short, kept to resume
				s.set(func(s *objServer) { s.cut = 50 << 10 })
				if err := fetchTo(context.Background(), dir, s.url(), good, 1<<30); err == nil {
					t.Fatal("a cut download succeeded")
				}
				if got := dirEntries(t, dir); !slices.Equal(got, []string{"pkg.partial", "pkg.partial.etag"}) {
					t.Fatalf("after a cut download: %v", got)
				}
				s.set(c.setup)
			}
			sum, max := c.sum, c.max
			if sum == "" {
				sum = good
			}
			if max == 0 {
				max = 1 << 30
			}
			err := fetchTo(context.Background(), dir, s.url(), sum, max)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("fetch = %v, want %q", err, c.want)
			}
			if got := dirEntries(t, dir); len(got) != 0 {
				t.Errorf("left in downloads: %v", got)
			}
		})
	}
}

// lyingSource announces a size smaller than the body it sends.
type lyingSource struct{ body []byte }

func (l lyingSource) Open(ctx context.Context, url string, req Request) (*Object, error) {
	return &Object{Body: io.NopCloser(bytes.NewReader(l.body)), Size: int64(len(l.body)) / 2}, nil
}

func TestMoreThanAnnouncedIsRefused(t *testing.T) {
	dir := t.TempDir()
	body := randomBytes(10 << 10)
	err := fetch(context.Background(), lyingSource{body}, fetchSpec{url: "x://pkg", path: filepath.Join(dir, "pkg"), sum: sha256hex(body), maxBytes: 1 << 30})
	if err == nil || err.Error() != "selfupdate: x://pkg sent more than the 5120 bytes it announced" {
		t.Fatalf("fetch = %v", err)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("left: %v", got)
	}
}

func TestResumeOnlyFromTheSameObject(t *testing.T) {
	v1, v2 := randomBytes(300<<10), randomBytes(300<<10)
	cases := []struct {
		name    string
		before  func(s *objServer) // before the first attempt
		change  func(s *objServer) // between the attempts
		want    []byte
		resumed bool
	}{
		{name: "same ETag", want: v1, resumed: true},
		{name: "new ETag, If-Range honoured", change: func(s *objServer) { s.obj, s.etag = v2, `"v2"` }, want: v2},
		{name: "new ETag, If-Range ignored", change: func(s *objServer) { s.obj, s.etag, s.ignoreIfRange = v2, `"v2"`, true }, want: v2},
		{name: "no ETag, same size", before: func(s *objServer) { s.etag = "" }, want: v1, resumed: true},
		{name: "no ETag, another size", before: func(s *objServer) { s.etag = "" }, change: func(s *objServer) { s.obj, s.ignoreIfRange = v2[:200<<10], true }, want: v2[:200<<10]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newObjServer(t, v1)
			if c.before != nil {
				s.set(c.before)
			}
			dir := t.TempDir()
			s.set(func(s *objServer) { s.cut = 100 << 10 })
			err := fetchTo(context.Background(), dir, s.url(), sha256hex(c.want), 1<<30)
			if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
				t.Fatalf("cut download: %v", err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "pkg.partial.etag"))
			var m partialMeta
			if err != nil || json.Unmarshal(b, &m) != nil || m.URL != s.url() || m.Size != int64(len(v1)) || m.ETag != s.etag {
				t.Fatalf("beside the partial: %s, %v", b, err)
			}
			if c.change != nil {
				s.set(c.change)
			}
			s.set(func(s *objServer) { s.full = 0 })
			if err := fetchTo(context.Background(), dir, s.url(), sha256hex(c.want), 1<<30); err != nil {
				t.Fatalf("resumed: %v", err)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "pkg")); !bytes.Equal(got, c.want) {
				t.Error("downloaded the wrong bytes")
			}
			if got := dirEntries(t, dir); !slices.Equal(got, []string{"pkg"}) {
				t.Errorf("left: %v", got)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.ranges) != 1 || s.ranges[0] != "bytes=102400- if-range "+m.ETag {
				t.Errorf("range requests %q, want one from the partial's end, If-Range its ETag", s.ranges)
			}
			if wantFull := map[bool]int{true: 0, false: 1}[c.resumed]; s.full != wantFull {
				t.Errorf("%d whole objects sent after the cut, want %d", s.full, wantFull)
			}
		})
	}
}

func TestInterruptedDownloadIsKept(t *testing.T) {
	obj := randomBytes(300 << 10)
	s := newObjServer(t, obj)
	dir := t.TempDir()
	s.set(func(s *objServer) { s.stall = make(chan struct{}) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := cancelSource{&HTTPSource{}, 10 << 10, cancel}
	err := fetch(ctx, src, fetchSpec{url: s.url(), path: filepath.Join(dir, "pkg"), sum: sha256hex(obj), maxBytes: 1 << 30})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled download: %v", err)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"pkg.partial", "pkg.partial.etag"}) {
		t.Fatalf("after a cancelled download: %v", got)
	}
	if err := fetchTo(context.Background(), dir, s.url(), sha256hex(obj), 1<<30); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ranges) != 1 || s.full != 0 {
		t.Errorf("ranges %q and %d whole objects: not resumed", s.ranges, s.full)
	}
}

func TestUnidentifiableDownloadIsNotKept(t *testing.T) {
	// No ETag and no size: a later response cannot be told to be the same
	// object, so nothing is kept to resume.
	obj := randomBytes(300 << 10)
	s := newObjServer(t, obj)
	s.set(func(s *objServer) { s.etag, s.chunked, s.cut = "", true, 100<<10 })
	dir := t.TempDir()
	if err := fetchTo(context.Background(), dir, s.url(), sha256hex(obj), 1<<30); err == nil {
		t.Fatal("a cut download succeeded")
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("left: %v", got)
	}
}

// cancelSource cancels the download's context once it has read after
// bytes of the body: a timeout in the middle of a download.
type cancelSource struct {
	Source
	after  int
	cancel context.CancelFunc
}

func (c cancelSource) Open(ctx context.Context, url string, req Request) (*Object, error) {
	obj, err := c.Source.Open(ctx, url, req)
	if err == nil {
		obj.Body = &cancelAfter{ReadCloser: obj.Body, left: c.after, cancel: c.cancel}
	}
	return obj, err
}

type cancelAfter struct {
	io.ReadCloser
	left   int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(b []byte) (int, error) {
	if c.left <= 0 {
		c.cancel()
	}
	n, err := c.ReadCloser.Read(b)
	c.left -= n
	return n, err
}

// BenchmarkDownload fetches a 20 MB object from loopback through the
// guarded HTTPSource, with its record for resuming, beside a baseline
// that copies and hashes the same response with a plain client, in the
// same loop.
func BenchmarkDownload(b *testing.B) {
	obj := randomBytes(20 << 20)
	sum := sha256hex(obj)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"x"`)
		http.ServeContent(w, r, "pkg", fixedTime, bytes.NewReader(obj))
	}))
	defer srv.Close()
	dir := b.TempDir()
	src := &HTTPSource{}
	var fetchTime, baseTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		resp, err := http.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		f, _ := os.Create(filepath.Join(dir, "copy"))
		h := sha256.New()
		io.CopyBuffer(io.MultiWriter(f, h), resp.Body, make([]byte, copyBuffer))
		resp.Body.Close()
		f.Close()
		if hex.EncodeToString(h.Sum(nil)) != sum {
			b.Fatal("baseline hash")
		}
		baseTime += time.Since(t0)
		t1 := time.Now()
		if err := fetch(context.Background(), src, fetchSpec{url: srv.URL + "/pkg", path: filepath.Join(dir, "pkg"), sum: sum, maxBytes: 1 << 30}); err != nil {
			b.Fatal(err)
		}
		fetchTime += time.Since(t1)
	}
	mb := float64(len(obj)) * float64(b.N) / 1e6
	b.ReportMetric(mb/fetchTime.Seconds(), "download-MB/s")
	b.ReportMetric(mb/baseTime.Seconds(), "copy+hash-MB/s")
	b.ReportMetric(baseTime.Seconds()/fetchTime.Seconds(), "ratio")
}

func TestPartialLinkNotFollowed(t *testing.T) {
	obj := randomBytes(64 << 10)
	s := newObjServer(t, obj)
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	os.Symlink(victim, filepath.Join(dir, "pkg.partial"))
	m, _ := json.Marshal(partialMeta{URL: s.url(), ETag: s.etag, Size: int64(len(obj))})
	os.WriteFile(filepath.Join(dir, "pkg.partial.etag"), m, 0o600)
	if err := fetchTo(context.Background(), dir, s.url(), sha256hex(obj), 1<<30); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target was written: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "pkg")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("pkg: %v, %v", fi, err)
	}
}
