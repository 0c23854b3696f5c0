// Command supervise runs the command line it is given under a
// supervisor: restarted when it exits, with backoff, given up on if it
// keeps failing. It prints every event, and on Ctrl-C (or SIGTERM) stops
// the command gracefully, then forcefully, and exits.
//
//	go run ./examples/supervise [-restart always|on-failure|never] [-stop-timeout 10s] -- command [args...]
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
	"os/signal"
	"syscall"
	"time"

	"github.com/ssmkit/ssmkit/supervisor"
)

func main() {
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("supervise", flag.ContinueOnError)
	restart := fs.String("restart", "always", "restart policy: always, on-failure or never")
	stopTimeout := fs.Duration("stop-timeout", 10*time.Second, "time a stopping command has before it is killed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: supervise [flags] -- command [args...]")
	}
	path, err := exec.LookPath(fs.Arg(0))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sup, err := supervisor.New(supervisor.Config{OnEvent: func(e supervisor.Event) {
		fmt.Fprintf(out, "%s %s\n", e.Time.Format("15:04:05.000"), e)
		if e.Kind == supervisor.EventGaveUp || e.Kind == supervisor.EventStopped {
			cancel() // nothing left to supervise
		}
	}})
	if err != nil {
		return err
	}
	err = sup.Add(supervisor.Spec{
		Name:        "command",
		Path:        path,
		Args:        fs.Args()[1:],
		Restart:     supervisor.Policy(*restart),
		StopTimeout: *stopTimeout,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
	})
	if err != nil {
		return err
	}
	return sup.Serve(ctx)
}
