package ssmv3

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// SP protocol numbers, as the connection header carries them.
const (
	ProtoSurveyor   uint16 = 0x0062 // 6*16+2: the core
	ProtoRespondent uint16 = 0x0063 // 6*16+3: the worker
)

// Limits and defaults of the wire.
const (
	// MaxFrameSize is the largest frame accepted: header and body.
	MaxFrameSize = 1 << 20
	// HandshakeTimeout bounds the exchange of connection headers.
	HandshakeTimeout = 5 * time.Second
	// WriteTimeout bounds the sending of one frame to a peer that does not
	// read.
	WriteTimeout = 5 * time.Second
	// maxHops bounds the backtrace of a request: how many 4-byte words a
	// respondent reads before the one with the top bit set (nanomsg's TTL).
	maxHops = 8
)

// Errors of the wire; each is wrapped with what was found.
var (
	// ErrBadHeader: the peer's connection header is not SP's, or not the
	// expected peer protocol's.
	ErrBadHeader = errors.New("ssmv3: bad connection header")
	// ErrBadFrame: a frame does not start with the message byte, or its
	// SP header is malformed.
	ErrBadFrame = errors.New("ssmv3: bad frame")
	// ErrFrameTooLarge: a frame's length is over MaxFrameSize.
	ErrFrameTooLarge = errors.New("ssmv3: frame too large")
)

// Header returns the 8-byte connection header of protocol proto:
// 0x00 'S' 'P' 0x00, the protocol number big-endian, and two zero bytes.
func Header(proto uint16) [8]byte {
	return [8]byte{0x00, 'S', 'P', 0x00, byte(proto >> 8), byte(proto), 0x00, 0x00}
}

// handshake sends own's header on c and reads the peer's, which must be
// exactly peer's, within HandshakeTimeout.
func handshake(c net.Conn, own, peer uint16) error {
	c.SetDeadline(time.Now().Add(HandshakeTimeout))
	defer c.SetDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { // both sides write first: do not wait for the peer to read
		h := Header(own)
		_, err := c.Write(h[:])
		errc <- err
	}()
	var got [8]byte
	_, rerr := io.ReadFull(c, got[:])
	werr := <-errc
	switch {
	case rerr != nil:
		return fmt.Errorf("%w: reading it: %v", ErrBadHeader, rerr)
	case werr != nil:
		return fmt.Errorf("ssmv3: sending the connection header: %w", werr)
	case got != Header(peer):
		return fmt.Errorf("%w: % x, want % x", ErrBadHeader, got, Header(peer))
	}
	return nil
}

// WriteFrame writes one frame of the IPC transport: the byte 0x01, the
// length of the parts together as 64-bit big-endian, and the parts.
func WriteFrame(w io.Writer, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > MaxFrameSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, n, MaxFrameSize)
	}
	buf := make([]byte, 9, 9+n)
	buf[0] = 0x01
	binary.BigEndian.PutUint64(buf[1:], uint64(n))
	for _, p := range parts {
		buf = append(buf, p...)
	}
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame of the IPC transport and returns its content.
// A frame over max bytes (MaxFrameSize when max is 0) is refused before
// any of it is read: the stream cannot be trusted after it.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = MaxFrameSize
	}
	var head [9]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	if head[0] != 0x01 {
		return nil, fmt.Errorf("%w: message byte 0x%02x, want 0x01", ErrBadFrame, head[0])
	}
	n := binary.BigEndian.Uint64(head[1:])
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// SplitRequest splits a request frame as a respondent receives it into its
// backtrace — the 4-byte words up to and including the first with the top
// bit set, the last being the survey id — and the body.
func SplitRequest(frame []byte) (backtrace, body []byte, err error) {
	for i := 0; i < maxHops; i++ {
		end := 4 * (i + 1)
		if len(frame) < end {
			return nil, nil, fmt.Errorf("%w: %d bytes end inside the SP header", ErrBadFrame, len(frame))
		}
		if frame[4*i]&0x80 != 0 {
			return frame[:end], frame[end:], nil
		}
	}
	return nil, nil, fmt.Errorf("%w: no survey id in the first %d header words", ErrBadFrame, maxHops)
}

// SplitReply splits a reply frame as the surveyor receives it into the
// survey id and the body.
func SplitReply(frame []byte) (id uint32, body []byte, err error) {
	if len(frame) < 4 {
		return 0, nil, fmt.Errorf("%w: %d bytes, shorter than a survey id", ErrBadFrame, len(frame))
	}
	id = binary.BigEndian.Uint32(frame)
	if id&0x80000000 == 0 {
		return 0, nil, fmt.Errorf("%w: survey id 0x%08x lacks the top bit", ErrBadFrame, id)
	}
	return id, frame[4:], nil
}
