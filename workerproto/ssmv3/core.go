package ssmv3

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultSurveyDeadline is how long a health survey waits for answers, as
// in the v3 core (3.3).
const DefaultSurveyDeadline = time.Second

// A Core is the core's end of the v3 IPC: the surveyors of the health and
// termination sockets. Its Probe and Terminate make it a supervisor.Prober
// for workers that speak v3, such as an unmodified ssm-agent-worker.
type Core struct {
	health, term *Surveyor
	deadline     time.Duration

	mu       sync.Mutex
	inflight *healthSurvey // a survey that probes may join
}

// A healthSurvey is one health survey; its result is shared by every probe
// that asked while it ran.
type healthSurvey struct {
	done    chan struct{}
	results map[int]Health // by pid
}

// CoreConfig configures ListenCore.
type CoreConfig struct {
	// HealthSocket and TerminationSocket are where to listen; defaults
	// DefaultHealthSocket and DefaultTerminationSocket.
	HealthSocket, TerminationSocket string
	// SurveyDeadline bounds a health survey; default DefaultSurveyDeadline.
	SurveyDeadline time.Duration
}

// ListenCore listens on both sockets.
func ListenCore(cfg CoreConfig) (*Core, error) {
	if cfg.HealthSocket == "" {
		cfg.HealthSocket = DefaultHealthSocket
	}
	if cfg.TerminationSocket == "" {
		cfg.TerminationSocket = DefaultTerminationSocket
	}
	if cfg.SurveyDeadline <= 0 {
		cfg.SurveyDeadline = DefaultSurveyDeadline
	}
	h, err := Listen(cfg.HealthSocket)
	if err != nil {
		return nil, err
	}
	t, err := Listen(cfg.TerminationSocket)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Core{health: h, term: t, deadline: cfg.SurveyDeadline}, nil
}

// Health surveys the workers and returns the health each reported, by pid.
// Probes that ask while a survey runs share its result, so that one worker
// asking never cancels another's survey. A reply whose payload names
// another process than the one the kernel says sent it is dropped.
func (c *Core) Health(ctx context.Context) (map[int]Health, error) {
	c.mu.Lock()
	hs := c.inflight
	if hs == nil {
		hs = &healthSurvey{done: make(chan struct{})}
		c.inflight = hs
		go c.survey(hs)
	}
	c.mu.Unlock()
	select {
	case <-hs.done:
		return hs.results, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Core) survey(hs *healthSurvey) {
	ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
	replies, _ := c.health.Survey(ctx, HealthRequest().Marshal(), nil)
	cancel()
	hs.results = map[int]Health{}
	for _, r := range replies {
		m, err := ParseMessage(r.Body)
		if err != nil {
			continue
		}
		h, err := ParseHealth(m)
		if err != nil || (r.PID != 0 && r.PID != h.Pid) {
			continue // garbage, or a worker that lies about who it is
		}
		hs.results[h.Pid] = h
	}
	c.mu.Lock()
	c.inflight = nil
	c.mu.Unlock()
	close(hs.done)
}

// Probe says whether the worker process pid answered a health survey.
func (c *Core) Probe(ctx context.Context, pid int) error {
	res, err := c.Health(ctx)
	if err != nil {
		return err
	}
	if _, ok := res[pid]; !ok {
		return fmt.Errorf("ssmv3: worker %d did not answer the health survey (%d answers)", pid, len(res))
	}
	return nil
}

// ErrNotConnected is returned by Terminate when no respondent on the
// termination socket can be the worker.
var ErrNotConnected = errors.New("ssmv3: the worker is not connected to the termination socket")

// Terminate sends TerminateWorkerRequest to worker process pid on the
// termination socket — to every connected worker where the platform does
// not tell which one is pid — and returns without waiting for the reply,
// which the v3 worker never manages to send: the caller waits for the
// process to exit.
func (c *Core) Terminate(ctx context.Context, pid int) error {
	sent := false
	to := func(p int) bool {
		ok := p == 0 || p == pid
		sent = sent || ok
		return ok
	}
	// A survey with an ended context sends and returns at once.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.term.Survey(done, TerminateRequest().Marshal(), to); err != nil {
		return err
	}
	if !sent {
		return ErrNotConnected
	}
	return nil
}

// Respondents returns the pids connected to the health socket (zeros
// where the platform does not tell).
func (c *Core) Respondents() []int { return c.health.Respondents() }

// Close closes both sockets.
func (c *Core) Close() error {
	return errors.Join(c.health.Close(), c.term.Close())
}
