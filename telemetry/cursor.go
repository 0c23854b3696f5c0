package telemetry

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// A cursor reads one sink's way through the spool, from its checkpoint on,
// seeing only records that are durable.
type cursor struct {
	s       *spool
	next    uint64 // seq of the next record wanted
	skipped uint64 // records lost to corruption or deletion, not yet reported

	f        file
	file     *limitedFile
	rr       *recordReader
	segFirst uint64
}

// rawRecord is a record read from the spool.
type rawRecord struct {
	seq     uint64
	payload []byte
}

func newCursor(s *spool, after uint64) *cursor { return &cursor{s: s, next: after + 1} }

func (c *cursor) close() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// read returns up to maxEvents durable records totalling about maxBytes.
func (c *cursor) read(maxEvents, maxBytes int) ([]rawRecord, error) {
	segs, durable := c.s.snapshot()
	var out []rawRecord
	bytes := 0
	for len(out) < maxEvents && bytes < maxBytes && c.next <= durable {
		i := segmentFor(segs, c.next)
		if i < 0 { // deleted before this cursor read it (dropped for space)
			c.skipped += segs[0].first - c.next
			c.next = segs[0].first
			continue
		}
		if c.f == nil || c.segFirst != segs[i].first {
			if err := c.open(segs[i]); err != nil {
				return out, err
			}
		}
		c.file.limit = segs[i].size
		seq, payload, err := c.rr.next()
		switch {
		case err == nil:
			if seq < c.next {
				continue // before the checkpoint
			}
			out = append(out, rawRecord{seq, append([]byte(nil), payload...)})
			bytes += len(payload)
			c.next = seq + 1
		case errors.Is(err, io.EOF) && i+1 < len(segs):
			// The end of a full segment: on to the next.
			if gap := segs[i+1].first - c.next; segs[i+1].first > c.next {
				c.skipped += gap
			}
			c.next = max(c.next, segs[i+1].first)
			c.close()
		case errors.Is(err, io.EOF):
			return out, nil // the end of what is durable
		case !errors.Is(err, errCorrupt): // the disk's error: try again later
			c.close()
			return out, fmt.Errorf("spool %s: %w", c.s.path(segs[i].first), err)
		case i+1 < len(segs):
			// A damaged segment: what follows the damage is lost.
			c.skipped += segs[i+1].first - c.next
			c.next = segs[i+1].first
			c.close()
		default:
			return out, fmt.Errorf("spool %s: %w", c.s.path(segs[i].first), err)
		}
	}
	return out, nil
}

// open opens seg and positions the reader at its first record.
func (c *cursor) open(seg segment) error {
	c.close()
	f, err := c.s.fs.open(c.s.path(seg.first), false)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	c.f, c.segFirst = f, seg.first
	c.file = &limitedFile{f: f, limit: seg.size}
	c.rr = newRecordReader(bufio.NewReaderSize(c.file, recordReadBuffer), seg.first)
	return nil
}

// segmentFor returns the index of the segment that holds seq, or -1 if
// seq is before the oldest.
func segmentFor(segs []segment, seq uint64) int {
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].first <= seq {
			return i
		}
	}
	return -1
}

// limitedFile reads a file up to limit, which may grow between reads.
type limitedFile struct {
	f     io.Reader
	pos   int64
	limit int64
}

func (l *limitedFile) Read(b []byte) (int, error) {
	if l.pos >= l.limit {
		return 0, io.EOF
	}
	if rest := l.limit - l.pos; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := l.f.Read(b)
	l.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}
