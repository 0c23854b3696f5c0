package workerproto

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// defaultWriteTimeout bounds each write, so that a peer that stops reading
// cannot block its sender forever.
const defaultWriteTimeout = 10 * time.Second

// A sender writes frames to a connection from many goroutines. Frames queued
// while a write is in flight go out together in the next one (group
// commit): one system call for many messages under load, no added latency
// when idle, and no goroutine of its own.
type sender struct {
	conn    net.Conn
	timeout time.Duration
	max     int // largest payload allowed

	mu       sync.Mutex
	queue    []byte // frames waiting for the next write
	spare    []byte // the previous write's buffer, for reuse
	flushing bool   // a goroutine is writing; it will also write the queue
	err      error  // the first write error; every later send returns it
}

func newSender(conn net.Conn, max int) *sender {
	return &sender{conn: conn, timeout: defaultWriteTimeout, max: max}
}

// send queues m and, unless another goroutine is already writing, writes
// the queue. A nil error means the message is queued or written, not that
// the peer received it.
func (s *sender) send(m *message) error {
	frame, err := s.encode(m)
	if err != nil {
		return err
	}
	return s.sendFrame(frame)
}

// encode returns m as a frame, or an error if it is over the size limit.
func (s *sender) encode(m *message) ([]byte, error) {
	frame, err := encode(nil, m)
	if err != nil {
		return nil, err
	}
	if n := len(frame) - frameHeaderSize; n > s.max {
		return nil, fmt.Errorf("workerproto: %w: %s message of %d bytes, the limit is %d", ErrFrameTooLarge, m.Type, n, s.max)
	}
	return frame, nil
}

// sendFrame is send for a frame already encoded.
func (s *sender) sendFrame(frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.queue = append(s.queue, frame...)
	if s.flushing {
		return nil
	}
	s.flushing = true
	for len(s.queue) > 0 && s.err == nil {
		out := s.queue
		s.queue = s.spare[:0]
		s.mu.Unlock()
		s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		_, err := s.conn.Write(out)
		s.mu.Lock()
		s.spare = out[:0]
		if err != nil {
			s.err = err
		}
	}
	s.flushing = false
	return s.err
}
