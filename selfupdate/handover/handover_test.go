//go:build unix

package handover_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/selfupdate/handover"
)

// fakeCore plays the running core: Handover moves it to next.
type fakeCore struct {
	mu       sync.Mutex
	st       Status
	next     string
	down     bool
	handed   int
	noAnswer bool
	reports  []selfupdate.Result
	restarts int
}

type Status = handover.Status

func (f *fakeCore) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return Status{}, errors.New("no core answers")
	}
	return f.st, nil
}

func (f *fakeCore) Handover(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handed++
	f.st.Version = f.next
	return true, nil
}

// layoutWith installs versions whose binary prints its version.
func (f *fakeCore) Report(ctx context.Context, r selfupdate.Result) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return nil
}

func (f *fakeCore) RestartWorkers(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts++
	return []string{"worker"}, nil
}

func layoutWith(t *testing.T, current string, versions ...string) selfupdate.Layout {
	t.Helper()
	l := selfupdate.Layout{Dir: t.TempDir()}
	for _, v := range versions {
		bin := filepath.Join(t.TempDir(), "agent")
		os.WriteFile(bin, []byte("#!/bin/sh\necho "+v+"\n"), 0o755)
		if err := l.Install(v, map[string]string{"agent": bin}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Switch(current); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGuardianHandsOver(t *testing.T) {
	core := &fakeCore{st: Status{Version: "1.0.0", PID: os.Getpid(), Healthy: true}, next: "2.0.0"}
	g := &handover.Guardian{Core: core, Layout: layoutWith(t, "2.0.0", "1.0.0", "2.0.0"), Binary: "agent"}
	if err := g.Restart(context.Background(), "2.0.0"); err != nil || core.handed != 1 {
		t.Fatalf("Restart = %v after %d handovers", err, core.handed)
	}
	if err := g.Check(context.Background(), "2.0.0"); err != nil {
		t.Errorf("Check = %v", err)
	}
	// A core already on the version is left alone.
	if err := g.Restart(context.Background(), "2.0.0"); err != nil || core.handed != 1 {
		t.Errorf("Restart again = %v after %d handovers", err, core.handed)
	}
}

func TestGuardianPreflightRefusesABinaryThatCannotRun(t *testing.T) {
	l := layoutWith(t, "1.0.0", "1.0.0")
	bin := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(bin, []byte("#!/bin/sh\nexit 3\n"), 0o755)
	if err := l.Install("2.0.0", map[string]string{"agent": bin}); err != nil {
		t.Fatal(err)
	}
	if err := l.Switch("2.0.0"); err != nil {
		t.Fatal(err)
	}
	core := &fakeCore{st: Status{Version: "1.0.0", PID: os.Getpid(), Healthy: true}, next: "2.0.0"}
	g := &handover.Guardian{Core: core, Layout: l, Binary: "agent"}
	err := g.Restart(context.Background(), "2.0.0")
	if !errors.Is(err, selfupdate.ErrNotRunning) || core.handed != 0 {
		t.Errorf("Restart into a broken binary = %v, %d handovers; want ErrNotRunning and none", err, core.handed)
	}
}

// TestGuardianSeesALaunchedCoreDie: with no core, the guardian starts one;
// when that one dies, Restart says the version does not run.
func TestGuardianSeesALaunchedCoreDie(t *testing.T) {
	core := &fakeCore{down: true}
	var launched []int
	g := &handover.Guardian{Core: core, Layout: layoutWith(t, "2.0.0", "2.0.0"), Binary: "agent",
		Launch: func(ctx context.Context, path string, args []string) (int, error) {
			cmd := exec.Command("/bin/true")
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			pid := cmd.Process.Pid
			cmd.Wait() // it is gone before the guardian looks
			launched = append(launched, pid)
			return pid, nil
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := g.Restart(ctx, "2.0.0")
	if !errors.Is(err, selfupdate.ErrNotRunning) || len(launched) != 1 {
		t.Errorf("Restart with a core that dies = %v after %d launches", err, len(launched))
	}
}

func Example() {
	dir, _ := os.MkdirTemp("", "handover")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "control.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Println(err)
		return
	}
	agent := &exampleAgent{version: "1.0.0"}
	srv := &http.Server{Handler: handover.Handler(agent)}
	go srv.Serve(l)
	defer srv.Close()

	core := handover.Dial(sock) // what a guardian uses
	st, err := core.Status(context.Background())
	fmt.Println(st.Version, st.Healthy, err)
	execs, err := core.Handover(context.Background())
	fmt.Println(execs, err, agent.handingOver)
	// Output:
	// 1.0.0 true <nil>
	// true <nil> true
}

type exampleAgent struct {
	version     string
	handingOver bool
}

func (a *exampleAgent) Status() handover.Status {
	return handover.Status{Version: a.version, PID: os.Getpid(), Healthy: true}
}

func (a *exampleAgent) Handover() (bool, error) {
	a.handingOver = true // a real agent stops supervising, then execs: handover.ExecCurrent
	return handover.CanExec, nil
}
