package ssmv3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ssmkit/ssmkit/internal/peercred"
	"github.com/ssmkit/ssmkit/internal/unixsock"
)

// A Reply is one respondent's answer to a survey.
type Reply struct {
	// PID is the respondent's process id as the kernel tells it (Linux),
	// or 0 where the platform does not.
	PID  int
	Body []byte
}

// A Surveyor is the core's end of one socket: it listens, takes every
// respondent that connects with the right header, and sends surveys to
// them all.
type Surveyor struct {
	path string
	l    *net.UnixListener

	mu     sync.Mutex
	conns  map[*net.UnixConn]struct{} // every connection, handshaken or not
	pipes  map[*pipe]struct{}
	nextID uint32
	cur    *survey
	closed bool
	wg     sync.WaitGroup
}

// A pipe is one connected respondent.
type pipe struct {
	conn *net.UnixConn
	pid  int
	wmu  sync.Mutex
}

// A survey collects the replies to one survey id.
type survey struct {
	id      uint32
	waiting map[*pipe]bool // the pipes that have not answered
	replies []Reply
	done    chan struct{} // closed when every pipe surveyed has answered
}

// Listen makes a Surveyor on the Unix socket path. Its directory is
// private whatever the umask: made with mode 0700 if missing (the mode set
// explicitly), and an existing one must be a real directory (not a
// symlink) owned by this process's user or root, and is narrowed to 0700
// if it is open to others. The socket file gets mode 0600. A socket file
// left by a core that is gone is removed — after a 100 ms probe dial
// fails; one that answers is an error, and so is anything at path that is
// not a socket, or a path longer than 103 bytes. Respondents whose user
// (from the kernel, on Linux) is neither this process's nor root are
// closed before the connection header.
func Listen(path string) (*Surveyor, error) {
	l, err := unixsock.Listen(path, unixsock.Config{NarrowDir: true})
	if err != nil {
		return nil, fmt.Errorf("ssmv3: %w", err)
	}
	s := &Surveyor{path: path, l: l, conns: map[*net.UnixConn]struct{}{}, pipes: map[*pipe]struct{}{}, nextID: uint32(time.Now().UnixNano())}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Path returns the socket's path.
func (s *Surveyor) Path() string { return s.path }

func (s *Surveyor) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of descriptors: let them free
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve handshakes with a new connection and reads its replies.
func (s *Surveyor) serve(c *net.UnixConn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	pid, uid, err := peercred.Of(c)
	if err != nil || uid >= 0 && uid != os.Getuid() && uid != 0 {
		return // another user's process: not a worker of this core
	}
	if err := handshake(c, ProtoSurveyor, ProtoRespondent); err != nil {
		return // not a respondent
	}
	p := &pipe{conn: c, pid: pid}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.pipes[p] = struct{}{}
	s.mu.Unlock()
	defer s.drop(p)
	for {
		frame, err := ReadFrame(c, MaxFrameSize)
		if err != nil {
			return // gone, or broke the framing: the stream is lost
		}
		id, body, err := SplitReply(frame)
		if err != nil {
			return
		}
		s.mu.Lock()
		if sv := s.cur; sv != nil && sv.id == id && sv.waiting[p] {
			delete(sv.waiting, p)
			sv.replies = append(sv.replies, Reply{PID: p.pid, Body: body})
			if len(sv.waiting) == 0 {
				close(sv.done)
			}
		} // else a late reply to an earlier survey, or a second one: dropped
		s.mu.Unlock()
	}
}

// drop forgets a pipe that is gone; a survey stops waiting for it.
func (s *Surveyor) drop(p *pipe) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pipes, p)
	if sv := s.cur; sv != nil && sv.waiting[p] {
		delete(sv.waiting, p)
		if len(sv.waiting) == 0 {
			close(sv.done)
		}
	}
}

// Respondents returns the number of respondents connected, and their pids
// where the platform tells them.
func (s *Surveyor) Respondents() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pids := make([]int, 0, len(s.pipes))
	for p := range s.pipes {
		pids = append(pids, p.pid)
	}
	return pids
}

// Survey sends body to the respondents that to accepts (by pid, 0 where
// unknown; nil means all) and returns their replies, once all have answered
// or ctx ends — its deadline is the survey's. A new survey cancels the one
// before: its Survey returns the replies it has, and replies to it are
// dropped from then on, as are late replies and replies from respondents
// that connected after the survey was sent.
func (s *Surveyor) Survey(ctx context.Context, body []byte, to func(pid int) bool) ([]Reply, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, net.ErrClosed
	}
	s.nextID++
	sv := &survey{id: s.nextID | 0x80000000, waiting: map[*pipe]bool{}, done: make(chan struct{})}
	var targets []*pipe
	for p := range s.pipes {
		if to == nil || to(p.pid) {
			sv.waiting[p] = true
			targets = append(targets, p)
		}
	}
	if len(targets) == 0 {
		close(sv.done)
	}
	if old := s.cur; old != nil && len(old.waiting) > 0 {
		old.waiting = nil // cancelled: its Survey returns what it has
		close(old.done)
	}
	s.cur = sv
	s.mu.Unlock()

	var id [4]byte
	binary.BigEndian.PutUint32(id[:], sv.id)
	for _, p := range targets {
		p.wmu.Lock()
		p.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
		err := WriteFrame(p.conn, id[:], body)
		p.wmu.Unlock()
		if err != nil {
			p.conn.Close() // its reader drops it, and the survey stops waiting
		}
	}

	select {
	case <-sv.done:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == sv {
		s.cur = nil
	}
	return sv.replies, nil
}

// Close stops listening, disconnects every respondent, removes the socket
// file, and waits for its goroutines.
func (s *Surveyor) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.l.Close() // removes the socket file
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
