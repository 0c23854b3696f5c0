package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/workerproto"
)

// workerName is the reference worker's name, as SSM's.
const workerName = "ssm-agent-worker"

// runWorker is the reference worker: it connects to its core through
// workerproto, records its start, says it is ready, answers pings (Serve
// does), and stops when the core asks it to or has been gone for longer
// than the reconnect grace.
func runWorker(s streams, g *globals, args []string) int {
	fs := newFlagSet(s, g, "worker", "[--core-grace DURATION]\n\nThe reference worker. The core starts it; it does not run by hand.\n\nFlags:")
	grace := fs.Duration("core-grace", workerproto.DefaultReconnectGrace, "how long to keep running while the core is gone")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	// The core stops the worker; an interrupt meant for a terminal's
	// foreground job is not for it. SIGTERM (from a service manager that
	// stops everything) ends it like the core's terminate.
	signal.Ignore(os.Interrupt)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	w := &workerproto.Worker{Name: workerName, Version: version, ReconnectGrace: *grace}
	var started bool
	err := w.Serve(ctx, func(ctx context.Context) error {
		if err := w.Event(ctx, workerproto.Event{Type: telemetry.TypeAgentTelemetry, Name: telemetry.NameWorkerStart}); err != nil {
			return fmt.Errorf("recording the start: %w", err)
		}
		started = true
		if err := w.Ready(); err != nil {
			return err
		}
		<-ctx.Done()
		if cause := context.Cause(ctx); errors.Is(cause, workerproto.ErrCoreLost) {
			return cause
		}
		return nil
	})
	switch {
	case errors.Is(err, workerproto.ErrNotSupervised):
		fmt.Fprintf(s.stderr, "ssm-agent worker: the core starts the worker; run 'ssm-agent' to start both\n")
		return exitFailure
	case err != nil && !(started && ctx.Err() != nil):
		return failure(s, "worker", err)
	}
	return exitOK
}
