// Command workerproto shows the workerproto package with real processes:
// it listens as a core, starts itself again as a worker, pings the worker a
// few times, receives its event, and asks it to terminate.
//
//	go run ./examples/workerproto [-pings 5]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/ssmkit/ssmkit/workerproto"
)

// roleEnv marks the copy of this program that plays the worker.
const roleEnv = "EXAMPLE_WORKERPROTO_ROLE"

func main() {
	log.SetFlags(0)
	var err error
	if os.Getenv(roleEnv) == "worker" {
		err = worker()
	} else {
		pings := flag.Int("pings", 5, "how many pings to send")
		flag.Parse()
		err = core(os.Stdout, *pings)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// worker is the worker process: ready, one event, then wait to be stopped.
func worker() error {
	w := &workerproto.Worker{Name: "example-worker", Version: "1.0"}
	return w.Serve(context.Background(), func(ctx context.Context) error {
		if err := w.Ready(); err != nil {
			return err
		}
		if err := w.Event(ctx, workerproto.Event{Type: "agent_telemetry", Name: "example-worker.start"}); err != nil {
			return err
		}
		<-ctx.Done()
		if errors.Is(context.Cause(ctx), workerproto.ErrTerminated) {
			return nil
		}
		return context.Cause(ctx)
	})
}

// lockedWriter serialises the writes of the event hook and the main flow.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// core listens, starts the worker and talks to it.
func core(w io.Writer, pings int) error {
	out := &lockedWriter{w: w}
	dir, err := os.MkdirTemp("", "workerproto-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "ipc", "core.sock")
	l, err := workerproto.Listen(socket, workerproto.ListenConfig{
		OnEvent: func(c *workerproto.Conn, e workerproto.Event) error {
			fmt.Fprintf(out, "event from pid %d: %s %s\n", c.Peer().PID, e.Type, e.Name)
			return nil
		},
	})
	if err != nil {
		return err
	}
	defer l.Close()
	secret, err := workerproto.NewSecret()
	if err != nil {
		return err
	}
	if err := l.Authorize("worker-1", secret, 0); err != nil { // its pid follows the start

		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"=worker")
	cmd.Env = append(cmd.Env, workerproto.Env(socket, secret)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	if err := l.SetPID("worker-1", cmd.Process.Pid); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := l.Accept(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	select {
	case <-c.Ready():
	case <-ctx.Done():
		return ctx.Err()
	}
	p := c.Peer()
	fmt.Fprintf(out, "worker %s (%s %s, pid %d) is ready\n", p.ID, p.Name, p.Version, p.PID)
	for range pings {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		pong, err := c.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "pong: %s in %v\n", pong.Health, pong.RTT.Round(time.Microsecond))
	}
	if err := c.Terminate(ctx, time.Now().Add(5*time.Second)); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	fmt.Fprintln(out, "worker exited cleanly")
	return nil
}
