package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrServing is returned by Serve while another Serve of the same
// pipeline runs: one goroutine per sink, so that no sink ever has two
// Sends at once.
var ErrServing = errors.New("pipeline already being served")

// Serve delivers events to the sinks until ctx ends or Close is called:
// each sink gets new events within its flush interval (local sinks at
// once), in batches, with retries on failure. It returns, with nil, when
// every sink's goroutine has stopped; what was not delivered stays in the
// spool for Close or the next run. Only one Serve runs at a time (another
// returns an error wrapping ErrServing), and none after Close (one wrapping
// ErrClosed, at once).
// A Serve that has returned may be started again.
func (p *Pipeline) Serve(ctx context.Context) error {
	p.life.Lock()
	switch {
	case p.closed.Load():
		p.life.Unlock()
		return fmt.Errorf("telemetry: %w", ErrClosed)
	case p.serving != nil:
		p.life.Unlock()
		return fmt.Errorf("telemetry: %w", ErrServing)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	p.serving, p.stopServe = done, cancel
	p.life.Unlock()
	defer func() {
		cancel()
		p.life.Lock()
		p.serving, p.stopServe = nil, nil
		p.life.Unlock()
		close(done)
	}()

	var wg sync.WaitGroup
	for _, st := range p.sinks {
		wg.Add(2)
		go func() {
			defer wg.Done()
			p.runSink(ctx, st)
		}()
		go func() {
			defer wg.Done()
			p.saveLoop(ctx, st)
		}()
	}
	wg.Wait()
	for _, st := range p.sinks {
		p.save(st)
	}
	return nil
}

// Close stops a running Serve and waits for it to return (its Sends end
// when their context does), then delivers what it can until ctx ends, and
// closes the spool. Records after Close fail; undelivered events stay on
// disk for the next Open. Closing twice does nothing.
func (p *Pipeline) Close(ctx context.Context) error {
	p.life.Lock()
	if p.closed.Swap(true) {
		p.life.Unlock()
		return nil
	}
	done, stop := p.serving, p.stopServe
	p.life.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	var wg sync.WaitGroup
	for _, st := range p.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.save(st)
			for ctx.Err() == nil {
				n, err := p.deliver(ctx, st)
				if err != nil || n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, st := range p.sinks {
		st.cursor.close()
	}
	err := p.spool.close()
	if r, ok := p.cfg.fs.(*rootFS); ok {
		r.close()
	}
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}
