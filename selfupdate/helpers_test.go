//go:build unix

package selfupdate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

// The test binary doubles as the agent an update installs: it reads the
// agent.conf of its version directory and behaves as it says.
const (
	agentEnv = "SELFUPDATE_TEST_AGENT" // the version directory
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(agentEnv); dir != "" {
		os.Exit(agentMain(dir))
	}
	if at := os.Getenv(crashAtEnv); at != "" {
		os.Exit(crashMain(at))
	}
	if dir := os.Getenv(guardianEnv); dir != "" {
		os.Exit(guardianMain(dir))
	}
	if path := os.Getenv(lockEnv); path != "" {
		os.Exit(lockMain(path))
	}
	os.Exit(m.Run())
}

// agentMain plays an installed version: "ok" says it is ready (a file next
// to its pid), "unhealthy" runs without ever being ready, "crash" exits at
// once.
func agentMain(dir string) int {
	conf, _ := os.ReadFile(filepath.Join(dir, "agent.conf"))
	switch strings.TrimSpace(string(conf)) {
	case "crash":
		return 1
	case "ok":
		os.WriteFile(filepath.Join(dir, "ready-"+strconv.Itoa(os.Getpid())), nil, 0o644)
	}
	select {}
}

// service plays the init system: it runs the current version as a real
// process, and its health is the version's ready file.
type service struct {
	layout Layout
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts []string // versions started, in order
}

func (s *service) Restart(ctx context.Context, version string) error {
	s.stop()
	cur, err := s.layout.Current()
	if err != nil {
		return err
	}
	if cur != version {
		return fmt.Errorf("restart into %s, but current is %s", version, cur)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"="+s.layout.VersionDir(version))
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.starts = append(s.starts, version)
	s.mu.Unlock()
	return nil
}

func (s *service) Check(ctx context.Context, version string) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return errors.New("not running")
	}
	select {
	case <-done:
		return fmt.Errorf("version %s exited", version)
	default:
	}
	if _, err := os.Stat(filepath.Join(s.layout.VersionDir(version), "ready-"+strconv.Itoa(cmd.Process.Pid))); err != nil {
		return fmt.Errorf("version %s is not ready", version)
	}
	return nil
}

func (s *service) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

func (s *service) started() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.starts...)
}

// tarGz builds a .tar.gz of files (name → content; a name ending in "->"
// target is a symlink).
func tarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		h := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}
		if link, ok := strings.CutPrefix(content, "symlink:"); ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, link, 0
			content = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	zw.Close()
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// repo is a release repository served over HTTPS on loopback.
type repo struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	// cut, when set for a path, serves only that many bytes of a full
	// response (as if the connection dropped).
	cut         map[string]int
	ranges      []string // Range headers received
	conditional int      // requests with If-None-Match
}

func newRepo(t testing.TB) *repo {
	r := &repo{files: map[string][]byte{}, cut: map[string]int{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *repo) put(path string, b []byte) {
	r.mu.Lock()
	r.files[path] = b
	r.mu.Unlock()
}

func (r *repo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	b, ok := r.files[req.URL.Path]
	cut, cutting := r.cut[req.URL.Path]
	if cutting {
		delete(r.cut, req.URL.Path)
	}
	if req.Header.Get("If-None-Match") != "" {
		r.conditional++
	}
	if rg := req.Header.Get("Range"); rg != "" {
		r.ranges = append(r.ranges, req.URL.Path+" "+rg)
	}
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("ETag", `"`+sum(b)[:16]+`"`)
	if cutting && req.Header.Get("Range") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:cut])
		w.(http.Flusher).Flush()
		if hj, ok := w.(http.Hijacker); ok { // drop the connection mid-body
			conn, _, _ := hj.Hijack()
			conn.Close()
		}
		return
	}
	http.ServeContent(w, req, req.URL.Path, time.Time{}, bytes.NewReader(b))
}

func (r *repo) url(path string) string { return r.srv.URL + path }

// offer describes what a test repository offers.
type offer struct {
	version, status, conf string
	pkg                   []byte // overrides the package built from conf
	checksum              string // overrides the package's checksum
}

// publish writes a manifest and packages for releases of the linux/amd64
// agent, and returns the manifest's bytes.
func (r *repo) publish(t testing.TB, extra string, rels ...offer) []byte {
	t.Helper()
	var versions []string
	for _, rel := range rels {
		pkg := rel.pkg
		if pkg == nil {
			pkg = tarGz(t, map[string]string{"agent.conf": rel.conf, "bin/ssm-agent": "binary of " + rel.version})
		}
		cs := rel.checksum
		if cs == "" {
			cs = sum(pkg)
		}
		r.put("/amazon-ssm-agent/"+rel.version+"/amazon-ssm-agent-linux-amd64.tar.gz", pkg)
		versions = append(versions, fmt.Sprintf(`{"Version":%q,"CheckSum":%q,"Status":%q}`, rel.version, cs, rel.status))
	}
	m := fmt.Sprintf(`{"SchemaVersion":"1.0",%s"UriFormat":%q,"Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[%s]}]}]}`,
		extra, r.srv.URL+"/{PackageName}/{PackageVersion}/{FileName}", strings.Join(versions, ","))
	r.put("/ssm-agent-manifest.json", []byte(m))
	return []byte(m)
}

// setup is an installed agent at version 1.0.0 with an updater.
type setup struct {
	repo    *repo
	svc     *service
	cfg     Config
	results chan Result
}

func newSetup(t testing.TB) *setup {
	t.Helper()
	dir := t.TempDir()
	layout := Layout{Dir: filepath.Join(dir, "install")}
	src := filepath.Join(dir, "agent.conf")
	os.WriteFile(src, []byte("ok"), 0o644)
	if err := layout.Install("1.0.0", map[string]string{"agent.conf": src}); err != nil {
		t.Fatal(err)
	}
	if err := layout.Switch("1.0.0"); err != nil {
		t.Fatal(err)
	}
	s := &setup{repo: newRepo(t), svc: &service{layout: layout}, results: make(chan Result, 10)}
	t.Cleanup(s.svc.stop)
	s.cfg = Config{
		ManifestURL:    s.repo.url("/ssm-agent-manifest.json"),
		Source:         Sources{"https": &HTTPSource{Client: s.repo.srv.Client()}},
		Platform:       manifest.Platform{Name: "linux", Arch: "amd64"},
		Current:        manifest.MustParseVersion("1.0.0"),
		InstallDir:     layout.Dir,
		StateDir:       filepath.Join(dir, "update"),
		Restarter:      s.svc,
		Health:         s.svc,
		HealthTimeout:  5 * time.Second,
		HealthInterval: 20 * time.Millisecond,
		OnResult:       func(r Result) { s.results <- r },
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *setup) updater(t testing.TB) *Updater {
	t.Helper()
	u, err := New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (s *setup) journal(t testing.TB) Journal {
	t.Helper()
	j, err := readJournal(filepath.Join(s.cfg.StateDir, "update.json"))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (s *setup) current(t testing.TB) string {
	t.Helper()
	v, err := Layout{Dir: s.cfg.InstallDir}.Current()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
