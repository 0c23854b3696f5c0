package telemetry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// A spool is the durable queue: append-only segment files of records,
//
//	length  uint32  big-endian, of the payload
//	crc     uint32  CRC-32C of seq and payload
//	seq     uint64  big-endian, one more than the record before
//	payload [length]byte
//
// named by the sequence number of their first record. Appends are group
// committed: whoever finds records waiting writes them all with one write
// and one fdatasync, and every appender whose record that covered returns.
type spool struct {
	dir          string
	segmentBytes int64

	// The append side.
	mu       sync.Mutex
	buf      []byte // records not yet written
	spare    []byte
	bufLast  uint64 // seq of the last record in buf
	nextSeq  uint64
	closed   bool
	failedTo uint64 // records up to this seq were lost to failErr
	failErr  error

	syncMu     sync.Mutex // held by the goroutine writing and syncing
	f          *os.File   // the active segment
	activeSize int64

	// What readers may see.
	durable  atomic.Uint64
	stateMu  sync.Mutex
	segments []segment // oldest first; the last one is active
	notify   chan struct{}
}

// segment is one file of the spool.
type segment struct {
	first uint64 // seq of its first record
	size  int64  // durable bytes
}

const (
	recordHeader   = 16
	segmentSuffix  = ".seg"
	maxRecordBytes = MaxEventBytes + 1024
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a record that fails its checks.
var errCorrupt = errors.New("corrupt record")

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

func (s *spool) path(first uint64) string { return filepath.Join(s.dir, segmentName(first)) }

// openSpool opens or creates the spool in dir. A torn record at the end of
// the newest segment, left by a crash, is cut off; minSeq is the lowest
// sequence number new records may have (past every checkpoint).
func openSpool(dir string, segmentBytes int64, minSeq uint64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("telemetry: spool: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("telemetry: spool: %w", err)
	}
	s := &spool{dir: dir, segmentBytes: segmentBytes, notify: make(chan struct{})}
	for _, e := range entries {
		name := e.Name()
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if !strings.HasSuffix(name, segmentSuffix) || err != nil || first == 0 {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("telemetry: spool: %w", err)
		}
		s.segments = append(s.segments, segment{first: first, size: fi.Size()})
	}
	slices.SortFunc(s.segments, func(a, b segment) int { return compareUint(a.first, b.first) })

	next := max(minSeq, 1)
	if n := len(s.segments); n > 0 {
		last := &s.segments[n-1]
		size, lastSeq, err := scanSegment(s.path(last.first), last.first)
		if err != nil {
			return nil, err
		}
		if size != last.size { // a torn tail: cut it off
			if err := os.Truncate(s.path(last.first), size); err != nil {
				return nil, fmt.Errorf("telemetry: spool: cut torn record: %w", err)
			}
			last.size = size
		}
		next = max(next, lastSeq+1)
		switch {
		case last.size == 0 && last.first != next: // empty, and its name no longer fits
			os.Remove(s.path(last.first))
			s.segments = s.segments[:n-1]
		case last.size > 0 && lastSeq+1 != next: // records must follow on: start a new segment
		default:
			next = max(next, last.first)
		}
	}
	if n := len(s.segments); n == 0 || s.segments[n-1].first != next && s.segments[n-1].size > 0 {
		s.segments = append(s.segments, segment{first: next})
	}
	active := s.segments[len(s.segments)-1]
	f, err := os.OpenFile(s.path(active.first), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("telemetry: spool: %w", err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	s.f, s.activeSize, s.nextSeq = f, active.size, next
	s.durable.Store(next - 1)
	return s, nil
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scanSegment reads a segment's records and returns the size of its valid
// prefix and the seq of its last valid record (first-1 if none).
func scanSegment(path string, first uint64) (size int64, last uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("telemetry: spool: %w", err)
	}
	defer f.Close()
	r := newRecordReader(f, first)
	for {
		_, _, err := r.next()
		if err != nil {
			return r.off, r.want - 1, nil
		}
	}
}

// appendRecord appends one record to b.
func appendRecord(b []byte, seq uint64, payload []byte) []byte {
	var h [recordHeader]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint64(h[8:16], seq)
	crc := crc32.Update(0, crcTable, h[8:16])
	crc = crc32.Update(crc, crcTable, payload)
	binary.BigEndian.PutUint32(h[4:8], crc)
	b = append(b, h[:]...)
	return append(b, payload...)
}

// append adds a record and returns once it is on disk.
func (s *spool) append(payload []byte) (uint64, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, errClosed
	}
	seq := s.nextSeq
	s.nextSeq++
	s.buf = appendRecord(s.buf, seq, payload)
	s.bufLast = seq
	s.mu.Unlock()
	return seq, s.sync(seq)
}

// sync returns once the record seq is durable, writing and syncing the
// waiting records itself unless another goroutine's sync covered it.
func (s *spool) sync(seq uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.durable.Load() >= seq {
		return nil
	}
	s.mu.Lock()
	if seq <= s.failedTo {
		err := s.failErr
		s.mu.Unlock()
		return err
	}
	out, last := s.buf, s.bufLast
	s.buf, s.spare = s.spare[:0], nil
	s.mu.Unlock()

	err := s.writeDurably(out)
	s.mu.Lock()
	s.spare = out[:0]
	if err != nil {
		s.failedTo, s.failErr = last, err
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.publish(last)
	return nil
}

// writeDurably writes records to the active segment, rotating first when it
// is full, and syncs them. On failure the segment is cut back to its last
// durable size, so no torn record is left for later appends to follow.
func (s *spool) writeDurably(out []byte) error {
	if s.activeSize > 0 && s.activeSize+int64(len(out)) > s.segmentBytes {
		if err := s.rotate(binary.BigEndian.Uint64(out[8:16])); err != nil {
			return err
		}
	}
	if _, err := s.f.Write(out); err != nil {
		s.f.Truncate(s.activeSize)
		return fmt.Errorf("telemetry: spool %s: write: %w", s.f.Name(), err)
	}
	if err := datasync(s.f); err != nil {
		s.f.Truncate(s.activeSize)
		return fmt.Errorf("telemetry: spool %s: sync: %w", s.f.Name(), err)
	}
	s.activeSize += int64(len(out))
	return nil
}

// rotate starts a new active segment whose first record is first.
func (s *spool) rotate(first uint64) error {
	f, err := os.OpenFile(s.path(first), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("telemetry: spool: new segment: %w", err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	s.f.Close()
	s.f, s.activeSize = f, 0
	s.stateMu.Lock()
	s.segments = append(s.segments, segment{first: first})
	s.stateMu.Unlock()
	return nil
}

// publish makes records up to last visible to readers and wakes them.
func (s *spool) publish(last uint64) {
	s.stateMu.Lock()
	s.segments[len(s.segments)-1].size = s.activeSize
	s.durable.Store(last)
	close(s.notify)
	s.notify = make(chan struct{})
	s.stateMu.Unlock()
}

// changed returns a channel closed at the next publish.
func (s *spool) changed() <-chan struct{} {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.notify
}

// snapshot returns the segments and the last durable seq.
func (s *spool) snapshot() ([]segment, uint64) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return slices.Clone(s.segments), s.durable.Load()
}

// size returns the bytes of all segments.
func (s *spool) size() int64 {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	var n int64
	for _, seg := range s.segments {
		n += seg.size
	}
	return n
}

// removeThrough deletes the segments, other than the active one, whose
// records all have seq ≤ through. It returns how many it deleted.
func (s *spool) removeThrough(through uint64) int {
	s.stateMu.Lock()
	var gone []uint64
	for len(s.segments) > 1 && s.segments[1].first-1 <= through {
		gone = append(gone, s.segments[0].first)
		s.segments = s.segments[1:]
	}
	s.stateMu.Unlock()
	for _, first := range gone {
		os.Remove(s.path(first)) // an open reader keeps reading (on Unix)
	}
	if len(gone) > 0 {
		atomicfile.SyncDir(s.dir)
	}
	return len(gone)
}

// oldest returns the oldest segment that is not the active one, and the
// seq of its last record.
func (s *spool) oldest() (seg segment, last uint64, ok bool) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if len(s.segments) < 2 {
		return segment{}, 0, false
	}
	return s.segments[0], s.segments[1].first - 1, true
}

// close flushes nothing (every append is durable when it returns) and
// closes the active segment.
func (s *spool) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.f.Close()
}

// A recordReader reads records from one segment, checking each.
type recordReader struct {
	r    io.Reader
	off  int64  // offset of the next record
	want uint64 // seq the next record must have
	hdr  [recordHeader]byte
	buf  []byte
}

func newRecordReader(r io.Reader, first uint64) *recordReader {
	return &recordReader{r: r, want: first}
}

// next returns the next record's seq and payload (valid until the next
// call). io.EOF means a clean end; errCorrupt a record that is torn or
// fails its checks, at offset off.
func (rr *recordReader) next() (uint64, []byte, error) {
	n, err := io.ReadFull(rr.r, rr.hdr[:])
	if err == io.EOF {
		return 0, nil, io.EOF
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w at offset %d: header cut after %d bytes", errCorrupt, rr.off, n)
	}
	size := binary.BigEndian.Uint32(rr.hdr[0:4])
	seq := binary.BigEndian.Uint64(rr.hdr[8:16])
	if size > maxRecordBytes {
		return 0, nil, fmt.Errorf("%w at offset %d: length %d", errCorrupt, rr.off, size)
	}
	if cap(rr.buf) < int(size) {
		rr.buf = make([]byte, size)
	}
	payload := rr.buf[:size]
	if _, err := io.ReadFull(rr.r, payload); err != nil {
		return 0, nil, fmt.Errorf("%w at offset %d: payload cut", errCorrupt, rr.off)
	}
	crc := crc32.Update(0, crcTable, rr.hdr[8:16])
	crc = crc32.Update(crc, crcTable, payload)
	if crc != binary.BigEndian.Uint32(rr.hdr[4:8]) {
		return 0, nil, fmt.Errorf("%w at offset %d: checksum mismatch", errCorrupt, rr.off)
	}
	if seq != rr.want {
		return 0, nil, fmt.Errorf("%w at offset %d: seq %d, want %d", errCorrupt, rr.off, seq, rr.want)
	}
	rr.off += recordHeader + int64(size)
	rr.want++
	return seq, payload, nil
}

// errClosed is returned by a closed pipeline.
var errClosed = errors.New("telemetry: pipeline closed")
