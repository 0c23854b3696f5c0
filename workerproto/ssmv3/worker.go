package ssmv3

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssmkit/ssmkit/internal/retry"
)

// Default socket paths of the v3 core on Linux.
const (
	DefaultHealthSocket      = "/var/lib/amazon/ssm/ipc/health"
	DefaultTerminationSocket = "/var/lib/amazon/ssm/ipc/termination"
)

// ErrTerminated is the cause of the context a Worker gives its code when
// the core sent TerminateWorkerRequest.
var ErrTerminated = errors.New("ssmv3: the core asked the worker to terminate")

// A Worker is a worker's end of the v3 IPC: it dials the core's health and
// termination sockets — again whenever a connection is lost or nothing
// listens yet — answers health surveys with its name, type and pid, and
// ends its code's context when the core asks it to terminate.
type Worker struct {
	// Name is reported in health results; default ssm-agent-worker.
	Name string
	// WorkerType is reported in health results; default LongRunning.
	WorkerType string
	// HealthSocket and TerminationSocket are the core's sockets; defaults
	// DefaultHealthSocket and DefaultTerminationSocket.
	HealthSocket, TerminationSocket string
	// RedialInterval is the longest wait between attempts to reach a core
	// that is not there; the wait doubles from 100 ms up to it. Default 5 s
	// (the v3 worker waits 5 minutes).
	RedialInterval time.Duration
	// OnRequest, if set, is told of every request received, by topic.
	OnRequest func(topic string)

	serving atomic.Bool
}

// ErrServing is returned by Serve while another Serve of the same Worker
// runs.
var ErrServing = errors.New("Serve is already running")

// Serve runs serve with a context that is cancelled, with cause
// ErrTerminated, when the core asks the worker to terminate, and returns
// serve's error once serve has returned. Meanwhile it keeps both sockets
// connected and answers health surveys.
func (w *Worker) Serve(ctx context.Context, serve func(ctx context.Context) error) error {
	if !w.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("ssmv3: %w", ErrServing)
	}
	defer w.serving.Store(false)
	if w.Name == "" {
		w.Name = "ssm-agent-worker"
	}
	if w.WorkerType == "" {
		w.WorkerType = WorkerTypeLongRunning
	}
	if w.HealthSocket == "" {
		w.HealthSocket = DefaultHealthSocket
	}
	if w.TerminationSocket == "" {
		w.TerminationSocket = DefaultTerminationSocket
	}
	if w.RedialInterval <= 0 {
		w.RedialInterval = 5 * time.Second
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, path := range []string{w.HealthSocket, w.TerminationSocket} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.respond(sctx, path, cancel)
		}()
	}
	err := serve(sctx)
	cancel(nil)
	wg.Wait()
	return err
}

// respond keeps one socket connected and answers its surveys until ctx
// ends.
func (w *Worker) respond(ctx context.Context, path string, terminate context.CancelCauseFunc) {
	bo := retry.New(100*time.Millisecond, max(w.RedialInterval, 100*time.Millisecond))
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
		r, err := Dial(dctx, path)
		cancel()
		if err != nil {
			if !retry.Sleep(ctx, bo.Next()) {
				return
			}
			continue
		}
		bo.Reset()
		stop := context.AfterFunc(ctx, func() { r.Close() })
		w.answer(r, terminate)
		stop()
		r.Close()
	}
}

// answer answers the surveys of one connection until it is lost.
func (w *Worker) answer(r *Respondent, terminate context.CancelCauseFunc) {
	for {
		req, err := r.Recv()
		if err != nil {
			return
		}
		m, err := ParseMessage(req.Body)
		if err != nil {
			continue // not a message: no answer, as the v3 worker
		}
		if w.OnRequest != nil {
			w.OnRequest(m.Topic)
		}
		h := Health{Name: w.Name, WorkerType: w.WorkerType, Pid: os.Getpid()}
		switch m.Topic {
		case TopicHealthRequest:
			r.Reply(req, HealthResult(h).Marshal())
		case TopicTerminateRequest:
			h.IsTerminating = true
			r.Reply(req, HealthResult(h).Marshal())
			terminate(ErrTerminated)
			return
		}
	}
}
