package workerproto_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

// A minimal worker: its code runs until the core asks it to stop. The core
// starts it with the environment that says where to connect.
func ExampleWorker_Serve() {
	w := &workerproto.Worker{Name: "my-worker", Version: "1.0.0"}
	err := w.Serve(context.Background(), func(ctx context.Context) error {
		w.Ready()
		w.Event(ctx, workerproto.Event{Type: "agent_telemetry", Name: "my-worker.start"})
		<-ctx.Done()
		if errors.Is(context.Cause(ctx), workerproto.ErrTerminated) {
			return nil // asked to stop: clean up and exit
		}
		return context.Cause(ctx)
	})
	if errors.Is(err, workerproto.ErrNotSupervised) {
		fmt.Fprintln(os.Stderr, "my-worker is started by its core, not by hand")
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// The core's side and a worker, in one program for the sake of the example;
// normally the worker is a process the core started with workerproto.Env.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "ipc", "core.sock")

	// The core.
	l, err := workerproto.Listen(socket, workerproto.ListenConfig{
		OnEvent: func(c *workerproto.Conn, e workerproto.Event) error {
			fmt.Printf("event from %s: %s %s\n", c.Peer().ID, e.Type, e.Name)
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	secret, err := workerproto.NewSecret()
	if err != nil {
		log.Fatal(err)
	}
	l.Authorize("worker-1", secret, os.Getpid()) // the worker below runs in this process

	// The worker.
	w := &workerproto.Worker{Name: "example-worker", Socket: socket, Secret: secret}
	done := make(chan error)
	go func() {
		done <- w.Serve(context.Background(), func(ctx context.Context) error {
			w.Event(ctx, workerproto.Event{Type: "agent_telemetry", Name: "example-worker.start"})
			w.Ready()
			<-ctx.Done()
			fmt.Println("worker stopping:", errors.Is(context.Cause(ctx), workerproto.ErrTerminated))
			return nil
		})
	}()

	ctx := context.Background()
	c, err := l.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	<-c.Ready()
	fmt.Println("ready:", c.Peer().ID, c.Peer().Name)
	pong, err := c.Ping(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pong:", pong.Health)
	c.Terminate(ctx, time.Now().Add(5*time.Second))
	fmt.Println("Serve:", <-done)
	// Output:
	// event from worker-1: agent_telemetry example-worker.start
	// ready: worker-1 example-worker
	// pong: ok
	// worker stopping: true
	// Serve: <nil>
}
