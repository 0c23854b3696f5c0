package workerproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// DefaultMaxFrameSize is the largest message accepted unless configured
// otherwise.
const DefaultMaxFrameSize = 1 << 20

// frameHeaderSize is the size of the big-endian length before each message.
const frameHeaderSize = 4

// ErrProtocol is wrapped by every error about a peer that broke the
// protocol: a malformed, truncated or oversized frame, a message that is not
// a JSON object, a handshake that went wrong.
var ErrProtocol = errors.New("protocol error")

// ErrFrameTooLarge is wrapped, with ErrProtocol, by the error about a frame
// over the size limit.
var ErrFrameTooLarge = errors.New("frame too large")

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("workerproto: %w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// keptFrameBuffer is the size of the largest buffer a frameReader keeps
// for reuse. The buffer it keeps grows to the largest frame it has read
// (in powers of two from minFrameBuffer), so that a connection that only
// ever carries small messages — a ping, a health summary — keeps a small
// one.
const (
	keptFrameBuffer = 64 << 10
	minFrameBuffer  = 1 << 10
)

// frameReadBuffer is the size of a frameReader's read buffer: enough for a
// burst of small frames in one read; a frame larger than it is read
// straight into its own buffer.
const frameReadBuffer = 8 << 10

// frameReader reads length-prefixed frames. The slice next returns is
// valid until the following call.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, frameReadBuffer), max: max}
}

// next returns the next frame's payload. It returns io.EOF only when the
// stream ends cleanly between frames; the size limit is checked before any
// allocation.
func (fr *frameReader) next() ([]byte, error) {
	var hdr [frameHeaderSize]byte
	if n, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, protocolErrorf("truncated frame header: got %d of %d bytes", n, frameHeaderSize)
		}
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	switch {
	case size == 0:
		return nil, protocolErrorf("empty frame")
	case uint64(size) > uint64(fr.max):
		return nil, fmt.Errorf("workerproto: %w: %w: %d bytes, the limit is %d", ErrProtocol, ErrFrameTooLarge, size, fr.max)
	}
	var buf []byte
	switch {
	case int(size) <= cap(fr.buf):
		buf = fr.buf[:size]
	case size <= keptFrameBuffer:
		fr.buf = make([]byte, max(minFrameBuffer, 1<<bits.Len32(size-1)))
		buf = fr.buf[:size]
	default: // a rare large frame: do not keep its buffer
		buf = make([]byte, size)
	}
	if n, err := io.ReadFull(fr.r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, protocolErrorf("truncated frame: got %d of %d bytes", n, size)
		}
		return nil, err
	}
	return buf, nil
}

// appendFrame appends payload to b as one frame.
func appendFrame(b, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}
