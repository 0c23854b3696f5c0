package telemetry

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// Segment files. A segment is preallocated, filled with zeros when it is
// made, and records overwrite the zeros: then a record's fdatasync flushes
// data alone, not the file size, which makes it markedly cheaper (the
// trick of database write-ahead logs). The next segment is prepared in the
// background as the spare file once the active one is half full, and only
// when the disk has room for it; it is kept across restarts. When there is
// no room, segments grow as records are appended: slower, but recording
// goes on, and the spool says it is degraded.

// spareName is the file a segment is prepared in before it is needed.
const spareName = ".spare.seg"

// spareRetry is how often a spare segment is tried again after the disk
// had no room for one.
const spareRetry = time.Second

// A spareSegment is a segment file being zero-filled in the background, so
// that rotating does not stall appends.
type spareSegment struct {
	ready chan struct{}
	f     file
	err   error
}

var errNoSpare = errors.New("no spare segment")

func (s *spool) sparePath() string { return filepath.Join(s.dir, spareName) }

// roomForSpare reports whether the disk can take a spare segment and
// still leave as much again for everything else.
func (s *spool) roomForSpare() bool {
	free := s.fs.freeBytes(s.dir)
	return free < 0 || free >= 2*s.segmentBytes
}

// prepareSpare starts zero-filling the next segment.
func (s *spool) prepareSpare() *spareSegment {
	sp := &spareSegment{ready: make(chan struct{})}
	go func() {
		defer close(sp.ready)
		sp.f, sp.err = s.makeSpare()
	}()
	return sp
}

// makeSpare makes the spare file, or removes what it made of it.
func (s *spool) makeSpare() (file, error) {
	path := s.sparePath()
	if err := s.fs.remove(path); err != nil {
		return nil, err
	}
	f, err := s.fs.create(path)
	if err != nil {
		return nil, err
	}
	if err := zeroFill(f, s.segmentBytes); err != nil {
		f.Close()
		s.fs.remove(path)
		return nil, err
	}
	return f, nil
}

// readySpare returns a spare that is ready now, without waiting.
func readySpare(f file, err error) *spareSegment {
	sp := &spareSegment{ready: make(chan struct{}), f: f, err: err}
	close(sp.ready)
	return sp
}

// spareState reports whether the spare is ready, and drops a failed one
// so that it can be tried again.
func (s *spool) spareState() (ready bool) {
	sp := s.nextSeg
	if sp == nil {
		return false
	}
	select {
	case <-sp.ready:
		if sp.err != nil {
			s.nextSeg = nil
			return false
		}
		return true
	default:
		return false
	}
}

// takeSpare renames the prepared segment to the segment named first.
func (s *spool) takeSpare(first uint64) (file, error) {
	sp := s.nextSeg
	if sp == nil {
		return nil, errNoSpare
	}
	s.nextSeg = nil
	<-sp.ready
	if sp.err != nil {
		return nil, sp.err
	}
	if err := s.fs.rename(s.sparePath(), s.path(first)); err != nil {
		sp.f.Close()
		s.fs.remove(s.sparePath())
		return nil, err
	}
	if err := s.fs.syncDir(s.dir); err != nil {
		sp.f.Close()
		s.fs.remove(s.path(first))
		return nil, err
	}
	return sp.f, nil
}

// newGrowing makes an empty segment named first, without preallocation.
func (s *spool) newGrowing(first uint64) (file, error) {
	path := s.path(first)
	f, err := s.fs.create(path)
	if errors.Is(err, fs.ErrExist) { // left by a rotation that failed
		if err = s.fs.remove(path); err == nil {
			f, err = s.fs.create(path)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.fs.syncDir(s.dir); err != nil {
		f.Close()
		s.fs.remove(path)
		return nil, err
	}
	return f, nil
}

// startSegment makes a new active segment whose first record is first:
// the spare one, or a growing one if there is no spare.
func (s *spool) startSegment(first uint64) error {
	f, err := s.takeSpare(first)
	prealloc := err == nil
	if err != nil {
		if f, err = s.newGrowing(first); err != nil {
			return fmt.Errorf("new segment %s: %w", s.path(first), err)
		}
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.active, s.activeSize, s.prealloc = f, s.path(first), 0, prealloc
	s.stateMu.Lock()
	s.segments = append(s.segments, segment{first: first})
	s.stateMu.Unlock()
	return nil
}

// afterWrite prepares the next spare segment when the active one is half
// full, or at once when it is a growing one, and tells how the spool is.
func (s *spool) afterWrite() {
	ready := s.spareState()
	if s.nextSeg == nil && (!s.prealloc || s.activeSize >= s.segmentBytes/2) && time.Since(s.spareAt) >= s.spareRetry {
		s.spareAt = time.Now()
		if s.roomForSpare() {
			s.nextSeg = s.prepareSpare()
		}
	}
	if s.prealloc || ready {
		s.setHealth("", 0)
		return
	}
	s.setHealth(fmt.Sprintf("low on disk space: segment %s is not preallocated (%d bytes free)", s.active, s.fs.freeBytes(s.dir)), 0)
}

// closeSpare waits for the spare segment and closes it; the file stays
// for the next start.
func (s *spool) closeSpare() {
	if sp := s.nextSeg; sp != nil {
		<-sp.ready
		if sp.err == nil {
			sp.f.Close()
		}
		s.nextSeg = nil
	}
}
