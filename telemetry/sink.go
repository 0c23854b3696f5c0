package telemetry

import (
	"context"
	"errors"
)

// A Sink delivers events somewhere: files, a service. The pipeline calls
// Send from one goroutine per sink, with events in the order they were
// recorded, and retries what a sink did not take.
//
// Send delivers a prefix events[:n] and returns n, the number of events it
// is done with:
//
//   - A nil error: events[:n] were delivered. n may be less than
//     len(events) — a sink sends what fits one request, and the pipeline
//     calls again with the rest — and 0 means "nothing now": the pipeline
//     tries again after the flush interval.
//   - An error that IsPermanent: events[:n] can never be delivered (the
//     service refused them as invalid); they are dropped and counted. n == 0
//     means the whole batch.
//   - An error wrapping ErrNotConfigured: the sink cannot send yet (no
//     endpoint); nothing is consumed, and the pipeline waits without
//     retrying in a loop.
//   - Any other error: events[:n] were delivered and the rest are retried
//     with backoff.
//
// Delivery is at least once: after a crash a batch may be sent again, with
// the same event IDs. Send must honour ctx.
type Sink interface {
	// Name identifies the sink; it names its checkpoint, so it must stay
	// the same across restarts: 1 to 64 of a–z, 0–9, '.', '_', '-'.
	Name() string
	Send(ctx context.Context, events []Event) (n int, err error)
}

// A LocalSink is a Sink that writes somewhere local and cheap, such as a
// file, and says so: the pipeline hands it events as soon as they are
// durable instead of gathering them for a flush interval (its
// SinkConfig.FlushInterval defaults to 0, not 1 s), so that a line is in
// an audit file milliseconds after Record returns. Remote sinks keep
// batching.
type LocalSink interface {
	Sink
	// Local reports whether the sink is local.
	Local() bool
}

// ErrNotConfigured is wrapped by a sink's error when it has nowhere to send
// to yet, as in fmt.Errorf("my sink: %w: no endpoint", ErrNotConfigured).
var ErrNotConfigured = errors.New("not configured")

// Permanent marks err as permanent: the events it concerns are dropped
// rather than retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
