package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ssmkit/ssmkit/telemetry/ssm"
	"github.com/ssmkit/ssmkit/workerproto"
	"github.com/ssmkit/ssmkit/workerproto/ssmv3"
)

// workerName is the reference worker's name, as SSM's.
const workerName = "ssm-agent-worker"

// runWorker is the reference worker: it connects to its core through
// workerproto, records its start, says it is ready, answers pings (Serve
// does), and stops when the core asks it to or has been gone for longer
// than the reconnect grace.
func runWorker(s streams, g *globals, args []string) int {
	fs := newFlagSet(s, g, "worker", "[--core-grace DURATION] [--protocol workerproto|ssm-v3 [--health-socket PATH] [--termination-socket PATH]]\n\nThe reference worker. The core starts it; it does not run by hand.\nWith --protocol ssm-v3 it speaks SSM Agent v3's IPC instead, and runs under\nan ssm-v3 core — this agent's or SSM's own.\n\nFlags:")
	grace := fs.Duration("core-grace", workerproto.DefaultReconnectGrace, "how long to keep running while the core is gone (workerproto)")
	protocol := fs.String("protocol", "workerproto", "the `PROTOCOL` to speak: workerproto or ssm-v3")
	health := fs.String("health-socket", "", "with ssm-v3, the core's health socket `PATH` (default: DATA_DIR/ipc/health)")
	term := fs.String("termination-socket", "", "with ssm-v3, the core's termination socket `PATH` (default: DATA_DIR/ipc/termination)")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	switch *protocol {
	case "workerproto":
	case "ssm-v3":
		return runV3Worker(s, g, *health, *term)
	default:
		return usageError(fs, "--protocol %q: want workerproto or ssm-v3", *protocol)
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
		// A start the core cannot record (its disk is full, its telemetry
		// unavailable) is no reason not to work: the core says so itself.
		if err := w.Event(ctx, workerproto.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameWorkerStart}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(s.stderr, "ssm-agent worker: the start was not recorded: %v\n", err)
		}
		started = true
		if err := w.Ready(); err != nil {
			return err
		}
		releaseStartupPagesLater() // startpages_linux.go
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

// runV3Worker is the reference worker over SSM Agent v3's IPC: it answers
// health surveys and stops on TerminateWorkerRequest or SIGTERM.
func runV3Worker(s streams, g *globals, health, term string) int {
	signal.Ignore(os.Interrupt)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	w := &ssmv3.Worker{
		Name:              workerName,
		HealthSocket:      cmp.Or(health, filepath.Join(ipcDir(g.dataDir), "health")),
		TerminationSocket: cmp.Or(term, filepath.Join(ipcDir(g.dataDir), "termination")),
		OnRequest: func(topic string) {
			if topic == ssmv3.TopicTerminateRequest {
				fmt.Fprintf(s.stderr, "ssm-agent worker: %s received: stopping\n", topic)
			}
		},
	}
	fmt.Fprintf(s.stderr, "ssm-agent worker %s (pid %d): ssm-v3 on %s and %s\n", version, os.Getpid(), w.HealthSocket, w.TerminationSocket)
	err := w.Serve(ctx, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	})
	if err != nil {
		return failure(s, "worker", err)
	}
	return exitOK
}
