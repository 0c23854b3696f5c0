//go:build unix

package handover_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/selfupdate/handover"
)

// serve serves h on a Unix socket in a temporary directory and returns
// its path.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ho") // short: a socket path has a limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// fullAgent serves every endpoint.
type fullAgent struct {
	exampleAgent
	reports  chan selfupdate.Result
	restarts int
}

func (a *fullAgent) Report(ctx context.Context, r selfupdate.Result) error {
	a.reports <- r
	return nil
}

func (a *fullAgent) RestartWorkers(ctx context.Context) ([]string, error) {
	a.restarts++
	return []string{"w1"}, nil
}

func TestHandlerServesReportAndRestart(t *testing.T) {
	a := &fullAgent{exampleAgent: exampleAgent{version: "2.0.0"}, reports: make(chan selfupdate.Result, 1)}
	core := handover.Dial(serve(t, handover.Handler(a)))
	ctx := context.Background()
	want := selfupdate.Result{Code: "UpdateSucceeded_SelfUpdate-2.0.0", Source: "1.0.0", Target: "2.0.0"}
	if err := core.Report(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got := <-a.reports; got.Code != want.Code || got.Source != want.Source || got.Target != want.Target {
		t.Errorf("reported %+v, want %+v", got, want)
	}
	if names, err := core.RestartWorkers(ctx); err != nil || len(names) != 1 || names[0] != "w1" || a.restarts != 1 {
		t.Errorf("RestartWorkers = %q, %v after %d restarts", names, err, a.restarts)
	}
}

func TestHandlerRefusesBadResults(t *testing.T) {
	a := &fullAgent{reports: make(chan selfupdate.Result, 1)}
	sock := serve(t, handover.Handler(a))
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"code": "` + strings.Repeat("A", 8<<10) + `"}`, http.StatusRequestEntityTooLarge},
		{`not json` + strings.Repeat("B", 3000), http.StatusBadRequest},
		{`{"code": ""}`, http.StatusBadRequest},
		{`{"code": "x", "nosuchfield": 1}`, http.StatusBadRequest},
		{`{"code": "x", "key": "from an older guardian"}`, http.StatusOK},
	} {
		resp, err := client.Post("http://core/result", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("POST /result %.40q: %s, want %d", tt.body, resp.Status, tt.status)
		}
	}
}

func TestDialSaysWhatAnAgentDoesNotServe(t *testing.T) {
	core := handover.Dial(serve(t, handover.Handler(&exampleAgent{version: "1.0.0"})))
	if err := core.Report(context.Background(), selfupdate.Result{Code: "x"}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Report to an agent with no Reporter = %v, want ErrUnsupported", err)
	}
	if _, err := core.RestartWorkers(context.Background()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("RestartWorkers of an agent with no WorkerRestarter = %v, want ErrUnsupported", err)
	}
}

// TestGuardianRunTellsTheCoreAndRestartsItsWorkers runs a guardian's whole
// task on an update journalled as switched: the core is handed over,
// proves healthy, is told the result and restarts its workers — and the
// guardian's Updater, with no OnResult, leaves the result to the core.
func TestGuardianRunTellsTheCoreAndRestartsItsWorkers(t *testing.T) {
	l := layoutWith(t, "2.0.0", "1.0.0", "2.0.0")
	state := t.TempDir()
	j := `{"phase": "switching", "source": "1.0.0", "target": "2.0.0", "updated": "2026-01-01T00:00:00Z"}`
	if err := os.WriteFile(filepath.Join(state, "update.json"), []byte(j), 0o600); err != nil {
		t.Fatal(err)
	}
	core := &fakeCore{st: Status{Version: "1.0.0", PID: os.Getpid(), Healthy: true}, next: "2.0.0"}
	g := &handover.Guardian{Core: core, Layout: l, Binary: "agent"}
	u, err := selfupdate.New(selfupdate.Config{Current: manifest.MustParseVersion("1.0.0"), InstallDir: l.Dir, StateDir: state,
		Restarter: g, Health: g, HealthTimeout: 10 * time.Second, HealthInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Run(context.Background(), u)
	if err != nil || !r.Succeeded() || r.Target != "2.0.0" {
		t.Fatalf("Run = %+v, %v", r, err)
	}
	if g.Source != "1.0.0" {
		t.Errorf("Source = %q, want the journal's 1.0.0", g.Source)
	}
	if len(core.reports) != 1 || core.reports[0].Code != r.Code || core.restarts != 1 {
		t.Errorf("the core was told %+v and restarted its workers %d times; want the result once, and once", core.reports, core.restarts)
	}
	if _, err := os.Stat(filepath.Join(state, "result.reported")); err == nil {
		t.Error("a guardian with no OnResult marked the result told")
	}
}

func TestSelf(t *testing.T) {
	ctx := context.Background()
	var replaced string
	s := handover.Self{Version: "1.0.0", Replace: func(ctx context.Context, v string) error { replaced = v; return nil }}
	if err := s.Restart(ctx, "1.0.0"); err != nil || replaced != "" {
		t.Errorf("Restart into its own version = %v, replaced by %q", err, replaced)
	}
	if err := s.Restart(ctx, "0.9.0"); err != nil || replaced != "0.9.0" {
		t.Errorf("Restart into another = %v, replaced by %q", err, replaced)
	}
	if s.Check(ctx, "1.0.0") != nil || s.Check(ctx, "0.9.0") == nil {
		t.Error("Check: want its own version healthy and no other")
	}
	if err := (handover.Self{Version: "1.0.0"}).Restart(ctx, "0.9.0"); err == nil {
		t.Error("Restart into another version with no Replace = nil")
	}
}

func TestCurrentBinary(t *testing.T) {
	l := layoutWith(t, "1.0.0", "1.0.0")
	if path, err := handover.CurrentBinary(l, "agent"); err != nil || path != filepath.Join(l.VersionDir("1.0.0"), "agent") {
		t.Errorf("CurrentBinary = %q, %v", path, err)
	}
	if err := os.Chmod(filepath.Join(l.VersionDir("1.0.0"), "agent"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := handover.CurrentBinary(l, "agent"); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("CurrentBinary of a file that cannot run = %v", err)
	}
	if _, err := handover.CurrentBinary(l, "missing"); err == nil {
		t.Error("CurrentBinary of a missing file = nil")
	}
}
