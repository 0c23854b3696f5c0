package telemetry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// A spool is the durable queue: segment files of records,
//
//	length  uint32  big-endian, of the payload
//	crc     uint32  CRC-32C of seq and payload
//	seq     uint64  big-endian, one more than the record before
//	payload [length]byte
//
// named by the sequence number of their first record. A segment is filled
// with zeros when it is created, and records overwrite the zeros: then a
// record's fdatasync flushes data alone, not the file size, which makes it
// markedly cheaper (the trick of database write-ahead logs). A zero header
// ends a segment's records. Appends are group committed: one write and one
// fdatasync for every record waiting.
type spool struct {
	dir          string
	segmentBytes int64

	// The append side.
	mu       sync.Mutex
	arriving atomic.Int32 // appends on their way, for the syncing goroutine to wait for
	syncing  bool         // a goroutine leads a sync; only it touches f
	idle     *sync.Cond   // signalled when syncing ends
	cur      *group       // the group that records appended now belong to
	buf      []byte       // records not yet written: those of cur
	spare    []byte
	bufLast  uint64 // seq of the last record in buf
	nextSeq  uint64
	closed   bool

	f          *os.File // the active segment
	activeSize int64
	nextSeg    *spareSegment // the next segment, zero-filled ahead of time

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
	s := &spool{dir: dir, segmentBytes: segmentBytes, notify: make(chan struct{}), cur: newGroup()}
	s.idle = sync.NewCond(&s.mu)
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
		// The records end at the first zero header, or at a record torn by a
		// crash: new records overwrite from there.
		size, lastSeq, err := scanSegment(s.path(last.first), last.first)
		if err != nil {
			return nil, err
		}
		last.size = size
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
	f, err := s.openSegment(active.first, active.size == 0)
	if err != nil {
		return nil, err
	}
	s.nextSeg = s.prepareSpare()
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

// openSegment opens a segment for writing; a new one is first filled with
// zeros and made durable, directory entry included.
func (s *spool) openSegment(first uint64, fresh bool) (*os.File, error) {
	f, err := os.OpenFile(s.path(first), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("telemetry: spool: %w", err)
	}
	if fresh {
		if err := zeroFill(f, s.segmentBytes); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("telemetry: spool: new segment %s: %w", f.Name(), err)
		}
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// zeroFill writes size zero bytes at the start of f and syncs them.
func zeroFill(f *os.File, size int64) error {
	zeros := make([]byte, 256<<10)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return err
		}
	}
	return f.Sync()
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

// A group is the records that one write and one sync make durable.
// Everyone who appended to it waits on done; lead hands the job of syncing
// it to one of them.
type group struct {
	done chan struct{}
	lead chan struct{}
	err  error // set before done is closed
}

func newGroup() *group { return &group{done: make(chan struct{}), lead: make(chan struct{}, 1)} }

// arrive announces an append that is being prepared; append or leave ends
// it. A goroutine about to sync yields a moment to announced appends, so
// that they share its sync instead of needing their own.
func (s *spool) arrive() { s.arriving.Add(1) }

// leave withdraws an announced append that will not happen.
func (s *spool) leave() { s.arriving.Add(-1) }

// maxGroupWait bounds how long a sync waits for announced appends.
const maxGroupWait = 100 * time.Microsecond

// append adds a record, announced with arrive, and returns once it is on
// disk. Appends are group committed: if no sync is under way, this
// goroutine leads one for every record waiting; otherwise it waits for the
// sync of its group, or to be handed the job of leading it.
func (s *spool) append(payload []byte) (uint64, error) {
	s.mu.Lock()
	s.arriving.Add(-1)
	if s.closed {
		s.mu.Unlock()
		return 0, errClosed
	}
	seq := s.nextSeq
	s.nextSeq++
	s.buf = appendRecord(s.buf, seq, payload)
	s.bufLast = seq
	g := s.cur
	if !s.syncing {
		s.syncing = true
		s.mu.Unlock()
		return seq, s.lead()
	}
	s.mu.Unlock()
	select {
	case <-g.done:
		return seq, g.err
	case <-g.lead:
		return seq, s.lead()
	}
}

// lead writes and syncs the current group, then hands the next group, if
// it has records, to one of its appenders.
func (s *spool) lead() error {
	s.mu.Lock()
	for deadline := time.Now().Add(maxGroupWait); s.arriving.Load() > 0 && time.Now().Before(deadline); {
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
	}
	g, out, last := s.cur, s.buf, s.bufLast
	s.cur, s.buf, s.spare = newGroup(), s.spare[:0], nil
	s.mu.Unlock()

	err := s.writeDurably(out)
	if err == nil {
		s.publish(last)
	}
	g.err = err
	close(g.done)

	s.mu.Lock()
	s.spare = out[:0]
	if len(s.buf) > 0 {
		s.cur.lead <- struct{}{} // syncing stays true: one of them takes over
	} else {
		s.syncing = false
		s.idle.Broadcast()
	}
	s.mu.Unlock()
	return err
}

// writeDurably writes records after the last ones of the active segment,
// rotating first when they do not fit, and syncs them. On failure nothing
// counts as written: the next write goes to the same place.
func (s *spool) writeDurably(out []byte) error {
	if s.activeSize > 0 && s.activeSize+int64(len(out)) > s.segmentBytes {
		if err := s.rotate(binary.BigEndian.Uint64(out[8:16])); err != nil {
			return err
		}
	}
	if _, err := s.f.WriteAt(out, s.activeSize); err != nil {
		return fmt.Errorf("telemetry: spool %s: write: %w", s.f.Name(), err)
	}
	if err := datasync(s.f); err != nil {
		return fmt.Errorf("telemetry: spool %s: sync: %w", s.f.Name(), err)
	}
	s.activeSize += int64(len(out))
	return nil
}

// spareName is the file a segment is prepared in before it is needed.
const spareName = ".spare.seg"

// A spareSegment is a segment file being zero-filled in the background, so
// that rotating does not stall appends.
type spareSegment struct {
	ready chan struct{}
	f     *os.File
	err   error
}

// prepareSpare starts zero-filling the next segment.
func (s *spool) prepareSpare() *spareSegment {
	sp := &spareSegment{ready: make(chan struct{})}
	go func() {
		defer close(sp.ready)
		path := filepath.Join(s.dir, spareName)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			if err = zeroFill(f, s.segmentBytes); err != nil {
				f.Close()
			}
		}
		sp.f, sp.err = f, err
	}()
	return sp
}

// takeSpare renames the prepared segment to the segment named first.
func (s *spool) takeSpare(first uint64) (*os.File, error) {
	sp := s.nextSeg
	s.nextSeg = nil
	<-sp.ready
	if sp.err != nil {
		return nil, sp.err
	}
	if err := os.Rename(sp.f.Name(), s.path(first)); err != nil {
		sp.f.Close()
		return nil, err
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		sp.f.Close()
		return nil, err
	}
	return sp.f, nil
}

// dropSpare waits for the spare segment and removes it.
func (s *spool) dropSpare() {
	if sp := s.nextSeg; sp != nil {
		<-sp.ready
		if sp.err == nil {
			sp.f.Close()
			os.Remove(sp.f.Name())
		}
		s.nextSeg = nil
	}
}

// rotate starts a new active segment whose first record is first: the
// spare one, or a new one if the spare could not be made.
func (s *spool) rotate(first uint64) error {
	f, err := s.takeSpare(first)
	if err != nil {
		if f, err = s.openSegment(first, true); err != nil {
			return err
		}
	}
	s.nextSeg = s.prepareSpare()
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
	defer s.mu.Unlock()
	s.closed = true
	for s.syncing {
		s.idle.Wait()
	}
	s.dropSpare()
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
	if err == io.EOF || err == nil && rr.hdr == [recordHeader]byte{} {
		return 0, nil, io.EOF // the end, or the zeros a segment is filled with
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
