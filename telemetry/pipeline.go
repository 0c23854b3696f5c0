package telemetry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// Defaults of Config and SinkConfig.
const (
	DefaultMaxBytes      = 256 << 20
	DefaultSegmentBytes  = 4 << 20
	DefaultFlushInterval = time.Second
	DefaultMaxBatch      = 10000
	DefaultMaxBatchBytes = 4 << 20
	DefaultRetryInitial  = time.Second
	DefaultRetryMax      = 5 * time.Minute
	// DefaultMaxPendingBytes is what is kept for a pending sink: about as
	// little as the SSM Agent keeps for its AWS channel (a day's audit
	// file of a quiet agent).
	DefaultMaxPendingBytes = 1 << 20
)

// Config configures a Pipeline. Dir is required; every other zero value
// means the documented default.
type Config struct {
	// Dir holds the spool (segments/) and the sinks' checkpoints
	// (checkpoints/). Created with mode 0700 (a wider mode is narrowed);
	// it and its subdirectories must not be symbolic links. The
	// directories above it are the caller's to check.
	Dir string
	// MaxBytes bounds the spool on disk. When it is full the oldest
	// undelivered events are dropped, counted per sink, and the drop is
	// recorded as an event (type telemetry, name telemetry.dropped).
	// Default 256 MiB (DefaultMaxBytes), or four segments if that is
	// more; at least four segments.
	MaxBytes int64
	// SegmentBytes is the size at which a segment file is closed and a new
	// one started: at least 4 KiB; default 4 MiB (DefaultSegmentBytes).
	SegmentBytes int64
	// AgentVersion is set on events recorded without one: valid UTF-8 of
	// at most MaxVersionBytes.
	AgentVersion string
	// Sinks are where events go. A sink that is not listed does not hold
	// back the deletion of delivered segments.
	Sinks []SinkConfig
	// OnError, if set, is told when a sink's error changes: once per new
	// error, not once per retry. nil for err means the sink recovered.
	// sink is "" for the spool itself: err (wrapping ErrDegraded) says why
	// it is degraded, such as a full disk, and nil that it is well again.
	OnError func(sink string, err error)

	fs fileSystem // osFS; tests inject faults
}

// SinkConfig is one sink and how the pipeline feeds it. Zero values mean
// the defaults; a negative value is an error that names the field.
type SinkConfig struct {
	// Sink is the sink; required. If it has a method Validate() error
	// (AuditFiles does), Open calls it and fails with its error.
	Sink Sink
	// FlushInterval is how long new events wait to be sent together.
	// Default 1 s, or 0 (sent as soon as they are durable) for a
	// LocalSink.
	FlushInterval time.Duration
	// MaxBatch and MaxBatchBytes bound the events handed to one Send, and
	// what is held in memory for the sink (a batch has at least one
	// event). Defaults 10,000 and 4 MiB.
	MaxBatch      int
	MaxBatchBytes int
	// RetryInitial and RetryMax bound the backoff between retries of a
	// failing sink; RetryMax must not be less than RetryInitial. Defaults
	// 1 s and 5 min (or RetryInitial, if that is longer).
	RetryInitial, RetryMax time.Duration
	// MaxPendingBytes bounds what the spool keeps for the sink while it is
	// pending (its Send returns ErrNotConfigured, such as the AWS channel
	// without an endpoint): older events past it are dropped for this
	// sink, counted in SinkStatus.Dropped and recorded as a
	// telemetry.dropped event, so that a sink that may never be set up does
	// not fill the spool. Whole segments are dropped, and never the active
	// one, so up to MaxPendingBytes plus one segment is kept. A sink that
	// fails otherwise is bounded only by Config.MaxBytes. Default 1 MiB.
	MaxPendingBytes int64
}

// sinkNamePattern is a sink name's characters; its length is checked
// apart (maxSinkName): a counted repetition compiles to a program 64 times
// the size, built at every start of every process.
var sinkNamePattern = regexp.MustCompile(`^[a-z0-9._-]+$`)

const maxSinkName = 64

// minSegmentBytes is the least Config.SegmentBytes.
const minSegmentBytes = 4 << 10

// setDefaults checks cfg, naming the first field out of range, and fills
// in the defaults of the zero fields.
func (cfg *Config) setDefaults() error {
	switch {
	case cfg.Dir == "":
		return errors.New("Config.Dir is empty")
	case cfg.SegmentBytes < 0 || cfg.SegmentBytes > 0 && cfg.SegmentBytes < minSegmentBytes:
		return fmt.Errorf("Config.SegmentBytes is %d, want at least %d (0: the default, %d)", cfg.SegmentBytes, minSegmentBytes, DefaultSegmentBytes)
	case cfg.MaxBytes < 0:
		return fmt.Errorf("Config.MaxBytes is %d, want at least four segments (0: the default, %d)", cfg.MaxBytes, DefaultMaxBytes)
	case len(cfg.AgentVersion) > MaxVersionBytes || !utf8.ValidString(cfg.AgentVersion):
		return fmt.Errorf("Config.AgentVersion is not valid UTF-8 of at most %d bytes", MaxVersionBytes)
	}
	cfg.SegmentBytes = cmp.Or(cfg.SegmentBytes, DefaultSegmentBytes)
	cfg.MaxBytes = cmp.Or(cfg.MaxBytes, max(DefaultMaxBytes, 4*cfg.SegmentBytes))
	if cfg.MaxBytes < 4*cfg.SegmentBytes {
		return fmt.Errorf("Config.MaxBytes (%d) is less than four segments of %d bytes", cfg.MaxBytes, cfg.SegmentBytes)
	}
	seen := map[string]bool{}
	for i := range cfg.Sinks {
		sc := &cfg.Sinks[i]
		if sc.Sink == nil {
			return fmt.Errorf("Config.Sinks[%d].Sink is nil", i)
		}
		name := sc.Sink.Name()
		if len(name) > maxSinkName || !sinkNamePattern.MatchString(name) {
			return fmt.Errorf("Config.Sinks[%d]: sink name %q is not 1 to 64 of a-z, 0-9, '.', '_', '-'", i, name)
		}
		if seen[name] {
			return fmt.Errorf("Config.Sinks[%d]: two sinks named %q", i, name)
		}
		seen[name] = true
		if err := sc.setDefaults(); err != nil {
			return fmt.Errorf("Config.Sinks[%d] (%s): %w", i, name, err)
		}
	}
	return nil
}

// setDefaults checks sc, naming the first field out of range (or the
// sink's own error from Validate), and fills in the defaults.
func (sc *SinkConfig) setDefaults() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"FlushInterval", int64(sc.FlushInterval)}, {"MaxBatch", int64(sc.MaxBatch)}, {"MaxBatchBytes", int64(sc.MaxBatchBytes)},
		{"RetryInitial", int64(sc.RetryInitial)}, {"RetryMax", int64(sc.RetryMax)}, {"MaxPendingBytes", sc.MaxPendingBytes},
	} {
		if f.v < 0 {
			return fmt.Errorf("SinkConfig.%s is negative (%d); 0 means the default", f.name, f.v)
		}
	}
	if sc.RetryInitial > 0 && sc.RetryMax > 0 && sc.RetryMax < sc.RetryInitial {
		return fmt.Errorf("SinkConfig.RetryMax (%v) is less than RetryInitial (%v)", sc.RetryMax, sc.RetryInitial)
	}
	if v, ok := sc.Sink.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if l, ok := sc.Sink.(LocalSink); sc.FlushInterval == 0 && !(ok && l.Local()) {
		sc.FlushInterval = DefaultFlushInterval
	}
	sc.MaxBatch = cmp.Or(sc.MaxBatch, DefaultMaxBatch)
	sc.MaxBatchBytes = cmp.Or(sc.MaxBatchBytes, DefaultMaxBatchBytes)
	sc.RetryInitial = cmp.Or(sc.RetryInitial, DefaultRetryInitial)
	sc.RetryMax = cmp.Or(sc.RetryMax, max(DefaultRetryMax, sc.RetryInitial))
	sc.MaxPendingBytes = cmp.Or(sc.MaxPendingBytes, DefaultMaxPendingBytes)
	return nil
}

// A Pipeline is a durable queue of events in front of its sinks: Record
// puts an event on disk, and Serve delivers every recorded event to every
// sink at least once, across crashes and outages.
type Pipeline struct {
	cfg   Config
	spool *spool
	sinks []*sinkState

	dropping sync.Mutex // one enforcer of the size limit at a time
	closed   atomic.Bool

	life      sync.Mutex    // guards serving and stopServe, and closing
	serving   chan struct{} // closed when the running Serve returns; nil if none runs
	stopServe context.CancelFunc
}

// sinkState is the pipeline's side of one sink.
type sinkState struct {
	cfg    SinkConfig
	name   string
	path   string // checkpoint file
	fs     fileSystem
	cursor *cursor
	window []pending // read from the spool, not yet taken by the sink

	cpMu       sync.Mutex
	checkpoint atomic.Uint64 // every event up to here is done with, on disk
	taken      atomic.Uint64 // every event up to here is done with, maybe not yet on disk
	saveReq    chan struct{} // asks for the checkpoint to be written

	mu     sync.Mutex
	status SinkStatus
}

// pending is an event waiting for a sink, with its seq.
type pending struct {
	seq   uint64
	event Event
	size  int
	bad   bool // checksummed but undecodable: skipped
}

// Open opens the pipeline's spool in cfg.Dir, recovering from a crash: a
// torn final record is cut off and everything before it is kept. It starts
// no goroutines; Record works at once, Serve delivers. A config out of range
// is an error naming the field, and nothing is created.
func Open(cfg Config) (*Pipeline, error) {
	p, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return p, nil
}

func open(cfg Config) (p *Pipeline, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := makeDir(cfg.Dir); err != nil {
		return nil, err
	}
	if cfg.fs == nil {
		// Everything inside Dir through one handle on it, opened now.
		r, err := newRootFS(cfg.Dir)
		if err != nil {
			return nil, err
		}
		cfg.fs = r
		defer func() {
			if err != nil {
				r.close()
			}
		}()
	}
	cpDir := filepath.Join(cfg.Dir, "checkpoints")
	if err := makeSubdir(cpDir); err != nil {
		return nil, err
	}
	atomicfile.CleanTemp(cpDir)
	p = &Pipeline{cfg: cfg}
	var highest uint64
	for _, sc := range cfg.Sinks {
		st := &sinkState{cfg: sc, name: sc.Sink.Name(), path: filepath.Join(cpDir, sc.Sink.Name()+".json"), fs: cfg.fs,
			saveReq: make(chan struct{}, 1)}
		cp, err := readCheckpoint(cfg.fs, st.path)
		if err != nil {
			return nil, err
		}
		st.checkpoint.Store(cp)
		st.status = SinkStatus{Name: st.name, State: StateOK}
		highest = max(highest, cp)
		p.sinks = append(p.sinks, st)
	}
	s, err := openSpool(cfg.fs, filepath.Join(cfg.Dir, "segments"), cfg.SegmentBytes, highest+1)
	if err != nil {
		return nil, err
	}
	p.spool = s
	if reason := s.health.reason; reason != "" {
		p.spoolHealth(reason)
	}
	s.onHealth = p.spoolHealth
	for _, st := range p.sinks {
		st.cursor = newCursor(s, st.checkpoint.Load())
	}
	p.collect()
	return p, nil
}

// maxSeq bounds sequence numbers (and checkpoints), far from overflow.
const maxSeq = 1 << 62

type checkpointFile struct {
	Seq uint64 `json:"seq"`
}

func readCheckpoint(fsys fileSystem, path string) (uint64, error) {
	b, err := fsys.readFile(path)
	if errors.Is(err, atomicfile.ErrUnsafe) {
		// A planted link or a file that is also elsewhere: not ours to
		// trust. Without it every event is delivered again, none lost.
		if err := fsys.remove(path); err != nil {
			return 0, fmt.Errorf("checkpoint: %w", err)
		}
		return 0, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	var cp checkpointFile
	if err := json.Unmarshal(b, &cp); err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w (remove it to deliver everything again)", path, err)
	}
	if cp.Seq > maxSeq {
		return 0, fmt.Errorf("checkpoint %s: seq %d is over the limit %d (remove it to deliver everything again)", path, cp.Seq, uint64(maxSeq))
	}
	return cp.Seq, nil
}

// done returns the seq up to which the sink is done with events.
func (st *sinkState) done() uint64 { return max(st.taken.Load(), st.checkpoint.Load()) }

// advance moves a sink's checkpoint forward to seq and stores it durably.
func (st *sinkState) advance(seq uint64) error {
	st.cpMu.Lock()
	defer st.cpMu.Unlock()
	if seq <= st.checkpoint.Load() {
		return nil
	}
	b, _ := json.Marshal(checkpointFile{Seq: seq})
	if err := st.fs.writeFile(st.path, b); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	st.checkpoint.Store(seq)
	return nil
}

// Record stores e durably: when it returns nil, e is on disk and will be
// delivered to every sink even if the process dies the next instant.
// Concurrent calls share their disk syncs. An empty ID, zero Time or empty
// AgentVersion are filled in; the error names what is wrong with an
// invalid event.
func (p *Pipeline) Record(ctx context.Context, e Event) error {
	if p.closed.Load() {
		return fmt.Errorf("telemetry: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.spool.arrive()
	appended := false
	defer func() {
		if !appended {
			p.spool.leave()
		}
	}()
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.AgentVersion == "" {
		e.AgentVersion = p.cfg.AgentVersion
	}
	if err := e.validate(); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	buf := encodeBuffers.Get().(*[]byte)
	defer encodeBuffers.Put(buf)
	payload, err := appendEvent((*buf)[:0], &e)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	*buf = payload
	appended = true
	if err := p.spool.append(payload); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	if p.spool.size() > p.cfg.MaxBytes {
		p.enforceLimit()
	}
	return nil
}

// encodeBuffers hold events while Record encodes them; the spool copies
// them.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// enforceLimit drops the oldest segments until the spool fits, counting
// for each sink the events it had not yet taken, and records the drops.
func (p *Pipeline) enforceLimit() {
	if !p.dropping.TryLock() {
		return // another goroutine is at it
	}
	dropped := map[string]uint64{}
	for p.spool.size() > p.cfg.MaxBytes {
		seg, last, ok := p.spool.oldest()
		if !ok {
			break
		}
		for _, st := range p.sinks {
			if cp := st.done(); cp < last {
				n := last - max(cp, seg.first-1)
				dropped[st.name] += n
				st.update(func(s *SinkStatus) { s.Dropped += n })
				st.advance(last)
			}
		}
		p.spool.removeThrough(last)
	}
	p.dropping.Unlock()
	for name, n := range dropped {
		p.Record(context.Background(), Event{Type: TypeTelemetry, Name: NameDropped,
			Attributes: map[string]string{AttrSink: name, AttrCount: strconv.FormatUint(n, 10), AttrReason: "spool full"}})
	}
}

// collect deletes the segments every sink has finished with.
func (p *Pipeline) collect() {
	_, durable := p.spool.snapshot()
	low := durable
	for _, st := range p.sinks {
		low = min(low, st.checkpoint.Load())
	}
	p.spool.removeThrough(low)
}
