package supervisor_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ssmkit/ssmkit/supervisor"
)

// After an update switched the symlink a worker was started through, the
// worker still runs the old executable until RestartStale restarts it.
func ExampleSupervisor_RestartStale() {
	dir, err := os.MkdirTemp("", "stale")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		log.Fatal(err)
	}
	bin, _ := os.ReadFile(sleep)
	v1, v2, current := filepath.Join(dir, "v1"), filepath.Join(dir, "v2"), filepath.Join(dir, "current")
	os.WriteFile(v1, bin, 0o755)
	os.WriteFile(v2, bin, 0o755)
	os.Symlink(v1, current)

	started := make(chan struct{}, 2)
	sup, err := supervisor.New(supervisor.Config{OnEvent: func(e supervisor.Event) {
		if e.Kind == supervisor.EventStarted {
			started <- struct{}{}
		}
	}})
	if err != nil {
		log.Fatal(err)
	}
	sup.Add(supervisor.Spec{Name: "worker", Path: current, Args: []string{"1000"}})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- sup.Serve(ctx) }()
	<-started

	restarted, err := sup.RestartStale(ctx, nil)
	fmt.Println("before the update:", restarted, err)
	os.Remove(current)
	os.Symlink(v2, current) // the update
	restarted, err = sup.RestartStale(ctx, nil)
	fmt.Println("after the update:", restarted, err)
	<-started

	cancel()
	fmt.Println("Serve:", <-served)
	// Output:
	// before the update: [] <nil>
	// after the update: [worker] <nil>
	// Serve: <nil>
}
