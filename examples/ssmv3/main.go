// Command ssmv3 shows the workerproto/ssmv3 package with real processes: it
// listens on the health and termination sockets as an SSM Agent v3 core
// does, starts itself again as a v3 worker, surveys its health a few
// times, and asks it to terminate.
//
//	go run ./examples/ssmv3 [-surveys 3]
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

	"github.com/ssmkit/ssmkit/workerproto/ssmv3"
)

// Environment of the copy of this program that plays the worker.
const (
	healthEnv = "EXAMPLE_SSMV3_HEALTH"
	termEnv   = "EXAMPLE_SSMV3_TERMINATION"
)

func main() {
	log.SetFlags(0)
	var err error
	if os.Getenv(healthEnv) != "" {
		err = worker()
	} else {
		surveys := flag.Int("surveys", 3, "how many health surveys to send")
		flag.Parse()
		err = core(os.Stdout, *surveys)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// worker answers health surveys until the core asks it to terminate.
func worker() error {
	w := &ssmv3.Worker{HealthSocket: os.Getenv(healthEnv), TerminationSocket: os.Getenv(termEnv)}
	return w.Serve(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		if errors.Is(context.Cause(ctx), ssmv3.ErrTerminated) {
			fmt.Println("worker: terminate request received")
		}
		return nil
	})
}

// core listens, starts the worker, surveys it, and stops it.
func core(w io.Writer, surveys int) error {
	out := &syncWriter{w: w} // the worker's output is copied in beside ours
	dir, err := os.MkdirTemp("", "ssmv3-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	health, term := filepath.Join(dir, "ipc", "health"), filepath.Join(dir, "ipc", "termination")
	v3, err := ssmv3.ListenCore(ssmv3.CoreConfig{HealthSocket: health, TerminationSocket: term})
	if err != nil {
		return err
	}
	defer v3.Close()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), healthEnv+"="+health, termEnv+"="+term)
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(out, "core: started worker pid %d\n", cmd.Process.Pid)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for i := 0; i < surveys; {
		start := time.Now()
		if err := v3.Probe(ctx, cmd.Process.Pid); err != nil {
			select { // not connected yet
			case <-retry.C:
				continue
			case <-ctx.Done():
				cmd.Process.Kill()
				return fmt.Errorf("the worker never answered: %w", err)
			}
		}
		res, _ := v3.Health(ctx)
		h := res[cmd.Process.Pid]
		fmt.Fprintf(out, "core: survey answered in %v: %s, %s, pid %d\n", time.Since(start).Round(time.Microsecond), h.Name, h.WorkerType, h.Pid)
		i++
	}
	if err := v3.Terminate(ctx, cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		return err
	}
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		fmt.Fprintln(out, "core: worker exited cleanly")
	case <-ctx.Done():
		cmd.Process.Kill()
		return errors.New("the worker did not exit")
	}
	return nil
}

// syncWriter serialises writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
