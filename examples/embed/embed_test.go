// Package embed_test holds the tasks an embedder does first, each with the
// public packages alone (go doc and the README, nothing from cmd/): supervise
// two workers of one's own, decide an update from a manifest with plain
// linux file names on any distribution, check a sink of one's own with
// telemetrytest, and self-update a tiny binary from a file:// manifest.
// (supervisor's own TestDependenciesOfAProgramImportingOnlySupervisor counts
// what a program importing only supervisor depends on.)
package embed_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/supervisor"
	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/telemetrytest"
	"github.com/ssmkit/ssmkit/workerproto"
)

// roleEnv makes the test binary play a worker.
const roleEnv = "EMBED_TEST_ROLE"

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "worker" {
		w := &workerproto.Worker{Name: os.Getenv("WORKER_NAME"), Version: "1.0"}
		err := w.Serve(context.Background(), func(ctx context.Context) error {
			if err := w.Ready(); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		})
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Task 1: two workers of my own, both ready, one killed and replaced.
func TestSuperviseTwoWorkers(t *testing.T) {
	dir := t.TempDir()
	ready := make(chan string, 8)
	sup, err := supervisor.New(supervisor.Config{
		StateDir: filepath.Join(dir, "state"),
		Socket:   filepath.Join(dir, "ipc", "core.sock"),
		OnEvent: func(e supervisor.Event) {
			if e.Kind == supervisor.EventReady {
				ready <- e.Worker
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alpha", "beta"} {
		err := sup.Add(supervisor.Spec{Name: name, Path: os.Args[0], Args: []string{"-test.run=^$"},
			Env: []string{roleEnv + "=worker", "WORKER_NAME=" + name}, Protocol: supervisor.ProtocolWorkerproto})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	waitReady := func(want ...string) {
		t.Helper()
		got := map[string]bool{}
		deadline := time.After(20 * time.Second)
		for len(got) < len(want) {
			select {
			case w := <-ready:
				got[w] = true
			case <-deadline:
				t.Fatalf("ready: %v, want %v", got, want)
			}
		}
	}
	waitReady("alpha", "beta")
	if ok, why := sup.Ready(); !ok {
		t.Fatalf("Ready() = false: %v", why)
	}
	pid := sup.Status()[0].PID
	p, _ := os.FindProcess(pid)
	p.Kill()
	waitReady("alpha")
	st := sup.Status()
	if st[0].PID == pid || st[0].Restarts != 1 || st[1].Restarts != 0 {
		t.Errorf("after a kill -9 of alpha: %+v", st)
	}
}

// Task 2: a manifest with one file per operating system (myagent-linux-
// amd64.tar.gz), decided on a Debian host: OSPlatform gives plain linux,
// where DetectPlatform would give SSM's ubuntu.
func TestDecideWithPlainLinuxNames(t *testing.T) {
	osRelease := filepath.Join(t.TempDir(), "os-release")
	os.WriteFile(osRelease, []byte("ID=debian\nVERSION_ID=12\n"), 0o644)
	if p, _ := manifest.DetectPlatform(osRelease); p.Name != "ubuntu" {
		t.Fatalf("DetectPlatform on Debian = %q; SSM's convention is ubuntu", p.Name)
	}
	sum := strings.Repeat("ab", 32)
	doc := `{"SchemaVersion": "1.0", "UriFormat": "https://example.com/{PackageName}/{PackageVersion}/{FileName}",
	  "Packages": [{"Name": "myagent", "Files": [{"Name": "myagent-linux-amd64.tar.gz", "AvailableVersions": [
	    {"Version": "1.0.0", "CheckSum": "` + sum + `", "Status": "Deprecated"},
	    {"Version": "1.1.0", "CheckSum": "` + sum + `", "Status": "Active"}]}]}]}`
	m, err := manifest.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	platform := manifest.Platform{Name: manifest.PlatformLinux, Arch: "amd64"} // what OSPlatform gives on linux/amd64
	if got := manifest.OSPlatform(); got.Name != "linux" && got.Name != "darwin" && got.Name != "windows" {
		t.Fatalf("OSPlatform() = %+v", got)
	}
	d, err := m.Decide(manifest.Query{Package: "myagent", Platform: platform, Current: manifest.MustParseVersion("1.0.0")})
	if err != nil || d.Action != manifest.ActionUpdate || d.Target.Version.String() != "1.1.0" {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
}

// memSink is a sink of my own: it keeps what it is sent, by ID.
type memSink struct {
	mu   sync.Mutex
	seen map[string]bool
	got  []telemetry.Event
}

func (s *memSink) Name() string { return "memory" }

func (s *memSink) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		if !s.seen[e.ID] {
			s.seen[e.ID] = true
			s.got = append(s.got, e)
		}
	}
	return len(events), nil
}

func (s *memSink) delivered() []telemetry.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]telemetry.Event(nil), s.got...)
}

// Task 3: a custom sink checked against the Sink contract.
func TestCustomSinkWithTelemetrytest(t *testing.T) {
	telemetrytest.TestSink(t, func(t *testing.T) (telemetry.Sink, func() []telemetry.Event) {
		s := &memSink{seen: map[string]bool{}}
		return s, s.delivered
	})
}

// Task 4: a tiny binary self-updated from a file:// manifest: the new
// version installed and current, checked healthy by the embedder's own
// Restarter and HealthChecker.
func TestSelfUpdateTinyBinaryFromFile(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	pkg := tarGz(t, "mytool", "#!/bin/sh\necho 2.0.0\n")
	sum := sha256.Sum256(pkg)
	os.MkdirAll(filepath.Join(repo, "mytool", "2.0.0"), 0o755)
	os.WriteFile(filepath.Join(repo, "mytool", "2.0.0", "mytool-linux-amd64.tar.gz"), pkg, 0o644)
	doc := fmt.Sprintf(`{"SchemaVersion": "1.0", "UriFormat": "%s/{PackageName}/{PackageVersion}/{FileName}",
	  "Packages": [{"Name": "mytool", "Files": [{"Name": "mytool-linux-amd64.tar.gz", "AvailableVersions": [
	    {"Version": "1.0.0", "CheckSum": "%s", "Status": "Deprecated"},
	    {"Version": "2.0.0", "CheckSum": "%s", "Status": "Active"}]}]}]}`,
		(&url.URL{Scheme: "file", Path: repo}).String(), strings.Repeat("0", 64), hex.EncodeToString(sum[:]))
	os.WriteFile(filepath.Join(repo, "manifest.json"), []byte(doc), 0o644)

	var results []selfupdate.Result
	install := filepath.Join(dir, "install")
	svc := &tool{dir: install}
	u, err := selfupdate.New(selfupdate.Config{
		ManifestURL: (&url.URL{Scheme: "file", Path: filepath.Join(repo, "manifest.json")}).String(),
		Package:     "mytool", Platform: manifest.Platform{Name: "linux", Arch: "amd64"},
		Current:    manifest.MustParseVersion("1.0.0"),
		InstallDir: install, StateDir: filepath.Join(dir, "state"),
		Restarter: svc, Health: svc, HealthTimeout: 10 * time.Second,
		OnResult: func(r selfupdate.Result) { results = append(results, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := u.Update(context.Background())
	if err != nil || !r.Succeeded() {
		t.Fatalf("Update = %+v, %v", r, err)
	}
	out, err := exec.Command(filepath.Join(install, "current", "mytool")).Output()
	if err != nil || string(out) != "2.0.0\n" {
		t.Fatalf("current/mytool says %q, %v", out, err)
	}
	if len(results) != 1 || results[0].Target != "2.0.0" {
		t.Errorf("OnResult told %+v, want one result for 2.0.0", results)
	}
}

// tool restarts nothing (the tool is run on demand) and counts the new
// version healthy when its binary runs and prints it.
type tool struct{ dir string }

func (t *tool) Restart(ctx context.Context, version string) error { return nil }

func (t *tool) Check(ctx context.Context, version string) error {
	out, err := exec.CommandContext(ctx, filepath.Join(t.dir, "current", "mytool")).Output()
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(out)); got != version {
		return fmt.Errorf("current/mytool says %s, want %s", got, version)
	}
	return nil
}

func tarGz(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
