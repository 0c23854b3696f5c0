package ssmv3_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/workerproto/ssmv3"
)

// A v3 core and worker in one process: the core surveys the worker's
// health, then asks it to terminate. Normally the worker is a process of
// its own (an ssm-agent-worker, or a Go program built on Worker) and the
// Core is a supervisor.Spec's Probe.
func Example() {
	dir, err := os.MkdirTemp("", "ssmv3")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	health, term := filepath.Join(dir, "ipc", "health"), filepath.Join(dir, "ipc", "termination")
	core, err := ssmv3.ListenCore(ssmv3.CoreConfig{
		HealthSocket:      health,
		TerminationSocket: term,
		SurveyDeadline:    100 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer core.Close()

	w := &ssmv3.Worker{HealthSocket: health, TerminationSocket: term, RedialInterval: 100 * time.Millisecond}
	served := make(chan error, 1)
	go func() {
		served <- w.Serve(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			fmt.Println("worker:", context.Cause(ctx))
			return nil
		})
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pid := os.Getpid() // the worker's process: this one
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// The worker dials both sockets; ask until it answers on each.
	for core.Probe(ctx, pid) != nil && ctx.Err() == nil {
		<-tick.C
	}
	h, err := core.Health(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("health:", h[pid].Name, h[pid].WorkerType)

	for errors.Is(core.Terminate(ctx, pid), ssmv3.ErrNotConnected) && ctx.Err() == nil {
		<-tick.C
	}
	fmt.Println("Serve:", <-served)
	// Output:
	// health: ssm-agent-worker LongRunning
	// worker: ssmv3: the core asked the worker to terminate
	// Serve: <nil>
}
