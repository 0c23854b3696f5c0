package telemetry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// A spool is the durable queue: segment files of records (record.go),
// named by the sequence number of their first record (segment.go).
// Appends are group committed: one write and one fdatasync for every
// record waiting. Sequence numbers are given when a group is written, so
// that a group that fails (a full disk) leaves no gap: the next group is
// written in the same place with the same numbers.
type spool struct {
	fs           fileSystem
	dir          string
	segmentBytes int64

	// The append side.
	mu       sync.Mutex
	arriving atomic.Int32  // appends on their way, for the syncing goroutine to wait for
	syncing  bool          // a goroutine leads a sync; only it touches what follows mu's fields
	idle     *sync.Cond    // signalled when syncing ends
	cur      *group        // the group that records appended now belong to
	buf      []byte        // records of cur, not yet numbered
	count    int           // how many
	full     chan struct{} // closed when count reaches expect, for a leader waiting
	free     []byte
	closed   bool
	expect   int           // the group a leader waits for: the appenders lately seen
	timer    *time.Timer   // the leader's, for how long it waits
	lastSync time.Duration // how long the last group took to write
	groups   int64         // groups written, and their records, for benchmarks
	grouped  int64

	// The leader's: only the goroutine that leads a sync touches these.
	nextSeq    uint64
	f          file   // the active segment; nil when none could be made
	active     string // its path
	activeSize int64
	prealloc   bool          // the active segment was zero-filled ahead
	nextSeg    *spareSegment // the next segment, zero-filled ahead of time
	spareAt    time.Time     // when a spare segment was last started
	spareRetry time.Duration // how soon after it may start another

	// What readers may see.
	durable  atomic.Uint64
	stateMu  sync.Mutex
	segments []segment // oldest first; the last one is active
	notify   chan struct{}
	health   spoolHealth
	onHealth func(reason string) // told when the reason changes
}

// segment is one file of the spool.
type segment struct {
	first uint64 // seq of its first record
	size  int64  // durable bytes
}

// spoolHealth is why the spool is degraded ("" when it is not).
type spoolHealth struct {
	reason   string
	since    time.Time
	rejected uint64 // records that could not be stored
}

const segmentSuffix = ".seg"

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

func (s *spool) path(first uint64) string { return filepath.Join(s.dir, segmentName(first)) }

// openSpool opens or creates the spool in dir. A torn record at the end of
// the newest segment, left by a crash, is cut off; minSeq is the lowest
// sequence number new records may have (past every checkpoint). The
// newest segment and a spare left by the last run are used again, so a
// start costs no disk space; a disk too full to make a segment leaves the
// spool degraded, not unopened.
func openSpool(fsys fileSystem, dir string, segmentBytes int64, minSeq uint64) (*spool, error) {
	if err := makeSubdir(dir); err != nil {
		return nil, err
	}
	s := &spool{fs: fsys, dir: dir, segmentBytes: segmentBytes, notify: make(chan struct{}), cur: newGroup(), spareRetry: spareRetry}
	s.idle = sync.NewCond(&s.mu)
	if err := s.list(); err != nil {
		return nil, err
	}
	s.openSpare()
	next := max(minSeq, 1)
	if n := len(s.segments); n > 0 {
		if err := s.reopenLast(&next); err != nil {
			return nil, err
		}
	}
	s.nextSeq = next
	s.durable.Store(next - 1)
	if s.f == nil {
		if s.nextSeg == nil && s.roomForSpare() {
			s.nextSeg = readySpare(s.makeSpare())
		}
		if err := s.startSegment(next); err != nil {
			s.setHealth(err.Error(), 0)
		}
	}
	if s.f != nil && !s.prealloc {
		s.afterWrite()
	}
	return s, nil
}

// list reads the segment files of the directory. A link with a segment's
// name is removed (never followed); anything else odd is an error.
func (s *spool) list() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if !strings.HasSuffix(name, segmentSuffix) || err != nil || first == 0 || first > maxSeq {
			continue
		}
		switch {
		case e.Type()&os.ModeSymlink != 0:
			if err := s.fs.remove(filepath.Join(s.dir, name)); err != nil {
				return fmt.Errorf("spool: removing the link %s: %w", filepath.Join(s.dir, name), err)
			}
			continue
		case !e.Type().IsRegular():
			return fmt.Errorf("spool: %s is not a regular file (%v); remove it", filepath.Join(s.dir, name), e.Type())
		}
		s.segments = append(s.segments, segment{first: first})
	}
	slices.SortFunc(s.segments, func(a, b segment) int { return compareUint(a.first, b.first) })
	for i := range s.segments[:max(len(s.segments)-1, 0)] {
		if fi, err := os.Lstat(s.path(s.segments[i].first)); err == nil {
			s.segments[i].size = fi.Size()
		}
	}
	return nil
}

// openSpare takes a spare segment left by the last run, if it is whole.
func (s *spool) openSpare() {
	path := s.sparePath()
	if _, err := os.Lstat(path); err != nil {
		return
	}
	f, err := s.fs.open(path, true)
	if err == nil {
		if fi, serr := f.Stat(); serr == nil && fi.Size() == s.segmentBytes {
			s.nextSeg = readySpare(f, nil)
			return
		}
		f.Close()
	}
	s.fs.remove(path) // a link, or cut short by a crash: made again when needed
}

// reopenLast opens the newest segment to append to it, if records may
// follow on there; next is raised past its records.
func (s *spool) reopenLast(next *uint64) error {
	last := &s.segments[len(s.segments)-1]
	f, err := s.fs.open(s.path(last.first), true)
	if errors.Is(err, atomicfile.ErrUnsafe) { // not ours to write to: set aside, never written
		if err := s.fs.remove(s.path(last.first)); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.segments = s.segments[:len(s.segments)-1]
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	size, lastSeq, err := scanSegment(io.NewSectionReader(f, 0, 1<<62), last.first)
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: reading %s: %w", s.path(last.first), err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	last.size = size
	*next = max(*next, lastSeq+1)
	switch {
	case size == 0 && last.first != *next: // empty, and its name no longer fits
		if err := s.fs.rename(s.path(last.first), s.path(*next)); err != nil {
			f.Close()
			s.fs.remove(s.path(last.first))
			s.segments = s.segments[:len(s.segments)-1]
			return nil
		}
		s.fs.syncDir(s.dir)
		last.first = *next
	case size > 0 && lastSeq+1 != *next: // records must follow on: a new segment
		f.Close()
		return nil
	}
	s.f, s.active, s.activeSize, s.prealloc = f, s.path(last.first), size, fi.Size() >= s.segmentBytes
	return nil
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

// A leader waits for its group to gather for at least minGroupWait, or as
// long as the last sync took, up to maxGroupWait: waiting for a group as
// large as the last costs less than the sync it saves.
const (
	minGroupWait = 100 * time.Microsecond
	maxGroupWait = time.Millisecond
)

// append adds a record, announced with arrive, and returns once it is on
// disk. Appends are group committed: if no sync is under way, this
// goroutine leads one for every record waiting; otherwise it waits for the
// sync of its group, or to be handed the job of leading it.
func (s *spool) append(payload []byte) error {
	s.mu.Lock()
	s.arriving.Add(-1)
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.buf = appendUnnumbered(s.buf, payload)
	s.count++
	if s.full != nil && s.count >= s.expect {
		close(s.full)
		s.full = nil
	}
	g := s.cur
	if !s.syncing {
		s.syncing = true
		s.mu.Unlock()
		return s.lead()
	}
	s.mu.Unlock()
	select {
	case <-g.done:
		return g.err
	case <-g.lead:
		return s.lead()
	}
}

// lead writes and syncs the current group, then hands the next group, if
// it has records, to one of its appenders. Before it writes, it lets the
// group gather: the appends announced, and as many as there are
// appenders about (those of the last group, who come back, and those
// already waiting), within a bound.
func (s *spool) lead() error {
	s.mu.Lock()
	s.gather()
	g, out, n := s.cur, s.buf, s.count
	s.cur, s.buf, s.count, s.free = newGroup(), s.free[:0], 0, nil
	s.mu.Unlock()

	start := time.Now()
	err := s.writeGroup(out)
	took := time.Since(start)
	g.err = err
	close(g.done)

	s.mu.Lock()
	s.lastSync, s.expect = took, n+s.count
	s.groups++
	s.grouped += int64(n)
	s.free = out[:0]
	if len(s.buf) > 0 {
		s.cur.lead <- struct{}{} // syncing stays true: one of them takes over
	} else {
		s.syncing = false
		s.idle.Broadcast()
	}
	s.mu.Unlock()
	return err
}

// gather waits, with mu held (and let go meanwhile), for the group to be
// as large as the last: the appenders of the last group come back, and
// those who were waiting are there already. It waits no longer than the
// last sync took (between minGroupWait and maxGroupWait), and not at all
// while one appender is about; appends announced (arriving) are waited for
// a moment too.
func (s *spool) gather() {
	if s.count >= s.expect && s.arriving.Load() == 0 {
		return
	}
	wait := min(max(s.lastSync, minGroupWait), maxGroupWait)
	if s.count >= s.expect { // announced appends only: the old, short wait
		wait = minGroupWait
		s.expect = s.count + int(s.arriving.Load())
	}
	full := make(chan struct{})
	s.full = full
	s.mu.Unlock()
	if s.timer == nil {
		s.timer = time.NewTimer(wait)
	} else {
		s.timer.Reset(wait)
	}
	select {
	case <-full:
	case <-s.timer.C:
	}
	s.timer.Stop()
	s.mu.Lock()
	s.full = nil
}

// writeGroup numbers the records in out, writes and syncs them, and makes
// them visible. On failure nothing counts as written and no number is
// used: the next group goes to the same place.
func (s *spool) writeGroup(out []byte) error {
	first := s.nextSeq
	n := numberRecords(out, first)
	if err := s.writeDurably(out, first); err != nil {
		err = fmt.Errorf("%w: %w", ErrNotRecorded, err)
		s.setHealth(err.Error(), uint64(n))
		return err
	}
	s.nextSeq += uint64(n)
	s.publish(s.nextSeq - 1)
	s.afterWrite()
	return nil
}

// writeDurably writes records after the last ones of the active segment,
// starting a new segment first when they do not fit (or when a spare is
// ready to replace a growing one), and syncs them.
func (s *spool) writeDurably(out []byte, first uint64) error {
	switch {
	case s.f == nil:
		if err := s.startSegment(first); err != nil {
			return err
		}
	case s.activeSize > 0 && (s.activeSize+int64(len(out)) > s.segmentBytes || !s.prealloc && s.spareState()):
		if err := s.startSegment(first); err != nil {
			return err
		}
	}
	if _, err := s.f.WriteAt(out, s.activeSize); err != nil {
		s.scrub(len(out))
		return fileError("write", s.active, err)
	}
	if err := s.f.datasync(); err != nil {
		s.scrub(len(out))
		return fileError("fdatasync", s.active, err)
	}
	s.activeSize += int64(len(out))
	return nil
}

// scrub overwrites, as well as it can, what a failed write may have left
// after the records, so that it cannot pass for records after a crash.
func (s *spool) scrub(n int) {
	if s.prealloc {
		s.f.WriteAt(make([]byte, n), s.activeSize)
	} else {
		s.f.Truncate(s.activeSize)
	}
}

// setHealth records why the spool is degraded ("" when it is not) and
// counts rejected records.
func (s *spool) setHealth(reason string, rejected uint64) {
	s.stateMu.Lock()
	h := &s.health
	h.rejected += rejected
	changed := h.reason != reason
	if changed {
		h.reason, h.since = reason, time.Now()
	}
	s.stateMu.Unlock()
	if changed && s.onHealth != nil {
		s.onHealth(reason)
	}
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
// records all have seq ≤ through. It returns how many it deleted. A
// segment that cannot be removed now is found again at the next open.
func (s *spool) removeThrough(through uint64) int {
	s.stateMu.Lock()
	var gone []uint64
	for len(s.segments) > 1 && s.segments[1].first-1 <= through {
		gone = append(gone, s.segments[0].first)
		s.segments = s.segments[1:]
	}
	s.stateMu.Unlock()
	for _, first := range gone {
		s.fs.remove(s.path(first)) // an open reader keeps reading (on Unix)
	}
	if len(gone) > 0 {
		s.fs.syncDir(s.dir)
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
// closes the files; the spare stays for the next start.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for s.syncing {
		s.idle.Wait()
	}
	s.closeSpare()
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

// ErrClosed is wrapped by the error of Record or Serve on a closed
// pipeline.
var ErrClosed = errors.New("pipeline closed")

// ErrNotRecorded is wrapped, with its cause (such as syscall.ENOSPC), by
// the error of a Record that the spool could not store: the disk is full
// or failing. The pipeline goes on; a later Record tries again, and
// SpoolStatus says why it is degraded.
var ErrNotRecorded = errors.New("event not recorded")
