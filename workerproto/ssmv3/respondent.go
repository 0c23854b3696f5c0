package ssmv3

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// A Respondent is the worker's end of one socket: connected to a
// surveyor, it receives surveys and answers them.
type Respondent struct {
	conn *net.UnixConn
	wmu  sync.Mutex
}

// Dial connects to the surveyor at the Unix socket path and exchanges the
// connection headers.
func Dial(ctx context.Context, path string) (*Respondent, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("ssmv3: %w", err)
	}
	uc := c.(*net.UnixConn)
	if err := handshake(uc, ProtoRespondent, ProtoSurveyor); err != nil {
		uc.Close()
		return nil, fmt.Errorf("ssmv3: %s: %w", path, err)
	}
	return &Respondent{conn: uc}, nil
}

// A Request is a survey as a respondent receives it.
type Request struct {
	// Backtrace is the SP header to echo in front of the reply: the survey
	// id, after any hops' words.
	Backtrace []byte
	Body      []byte
}

// Recv waits for the next survey. An error means the connection is lost or
// the surveyor broke the protocol; either way it is closed.
func (r *Respondent) Recv() (Request, error) {
	frame, err := ReadFrame(r.conn, MaxFrameSize)
	if err != nil {
		r.conn.Close()
		return Request{}, err
	}
	bt, body, err := SplitRequest(frame)
	if err != nil {
		r.conn.Close()
		return Request{}, err
	}
	return Request{Backtrace: bt, Body: body}, nil
}

// Reply answers the survey req.
func (r *Respondent) Reply(req Request, body []byte) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return WriteFrame(r.conn, req.Backtrace, body)
}

// Close closes the connection.
func (r *Respondent) Close() error { return r.conn.Close() }
