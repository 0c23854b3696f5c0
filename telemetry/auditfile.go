package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// Audit file naming, as the SSM Agent writes them.
const (
	auditPrefix = "amazon-ssm-agent-audit-"
	auditHeader = "SchemaVersion=1\n"
	auditDate   = "2006-01-02"
	// DefaultAuditKeep is how many daily files are kept by default, like
	// the SSM Agent's AuditExpirationDay.
	DefaultAuditKeep = 7
	// DefaultAuditMaxDayBytes and DefaultAuditMaxTotalBytes are the
	// default bounds of one day's file and of all of them.
	DefaultAuditMaxDayBytes   = 10 << 20
	DefaultAuditMaxTotalBytes = 100 << 20
	// minAuditDayBytes is the least MaxDayBytes: a header, a few lines and
	// the drop line.
	minAuditDayBytes = 4 << 10
)

// AuditFiles is the SSM Agent's local audit log as a Sink: one file per
// local day, <Dir>/amazon-ssm-agent-audit-YYYY-MM-DD, starting with the line
// SchemaVersion=1 and then one line per event:
//
//	<type> <name> <agent version> <HH:MM:SS>
//
// such as "agent_telemetry amazon-ssm-agent.start 3.0.151.0 10:15:03".
// Spaces, '%' and control characters in a field are written as %XX, so a
// field cannot break the line format. Files have mode 0600 in a 0700
// directory (which must not be a symbolic link), and are never opened
// through a symbolic link or when they have another hard link: such an
// entry is replaced by a file of the sink's own. The newest Keep files are kept, within
// MaxTotalBytes.
//
// A day's file holds at most MaxDayBytes: once it is full, that day's
// further events are dropped, and the file ends with one line that counts
// them, rewritten as the count grows:
//
//	telemetry audit.dropped - <HH:MM:SS of the last drop> count=0000001234
type AuditFiles struct {
	// Dir is the audit directory, such as /var/log/amazon/ssm/audits.
	Dir string
	// Keep is the number of daily files kept, like AuditExpirationDay:
	// from 3 to 30, default 7; values outside are brought into range.
	Keep int
	// MaxDayBytes bounds one day's file; default 10 MiB, at least 4 KiB.
	MaxDayBytes int64
	// MaxTotalBytes bounds all the files: the oldest days are removed
	// until the rest fit; default 100 MiB, at least MaxDayBytes.
	MaxTotalBytes int64
	// Location is the time zone of the file dates and times; default Local.
	Location *time.Location
}

var _ LocalSink = (*AuditFiles)(nil)

// Name returns "audit".
func (a *AuditFiles) Name() string { return "audit" }

// Local returns true: audit files get each event as soon as it is
// durable.
func (a *AuditFiles) Local() bool { return true }

func (a *AuditFiles) keep() int {
	if a.Keep == 0 {
		return DefaultAuditKeep
	}
	return min(max(a.Keep, 3), 30)
}

func (a *AuditFiles) maxDay() int64 {
	if a.MaxDayBytes == 0 {
		return DefaultAuditMaxDayBytes
	}
	return max(a.MaxDayBytes, minAuditDayBytes)
}

func (a *AuditFiles) maxTotal() int64 {
	if a.MaxTotalBytes == 0 {
		return max(DefaultAuditMaxTotalBytes, a.maxDay())
	}
	return max(a.MaxTotalBytes, a.maxDay())
}

func (a *AuditFiles) location() *time.Location {
	if a.Location == nil {
		return time.Local
	}
	return a.Location
}

// Send appends the events to their days' files and syncs them.
func (a *AuditFiles) Send(ctx context.Context, events []Event) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if a.Dir == "" {
		return 0, fmt.Errorf("audit files: %w: no directory", ErrNotConfigured)
	}
	if err := makeDir(a.Dir); err != nil {
		return 0, fmt.Errorf("audit files: %w", err)
	}
	loc := a.location()
	var (
		d    *auditDay
		line []byte
		done int // events in the files of the days finished
	)
	for i, e := range events {
		t := e.Time.In(loc)
		if day := t.Format(auditDate); d == nil || d.day != day {
			if err := d.finish(); err != nil {
				return done, err
			}
			done = i
			var err error
			if d, err = a.openDay(day); err != nil {
				return done, err
			}
		}
		line = appendAuditLine(line[:0], &e, t)
		d.add(line, t, a.maxDay())
	}
	if err := d.finish(); err != nil {
		return done, err
	}
	return len(events), a.prune()
}

// An auditDay is one day's file open for appending.
type auditDay struct {
	day     string
	f       *os.File
	size    int64  // of the file when opened
	pending []byte // lines to append
	// The drop line: where it is (-1: none yet), its count, and whether
	// it must be written.
	dropAt  int64
	dropped uint64
	dropTo  time.Time
	dirty   bool
}

// dropLineBytes is the length of the drop line.
var dropLineBytes = len(appendDropLine(nil, 0, time.Time{}))

func appendDropLine(b []byte, n uint64, t time.Time) []byte {
	b = append(b, "telemetry audit.dropped - "...)
	b = t.AppendFormat(b, timeFormatOnTheDay)
	b = append(b, " count="...)
	return fmt.Appendf(b, "%010d\n", min(n, 9_999_999_999))
}

// parseDropLine returns the count of a drop line.
func parseDropLine(b []byte) (uint64, bool) {
	s := string(b)
	head, count, ok := strings.Cut(strings.TrimSuffix(s, "\n"), " count=")
	if !ok || len(s) != dropLineBytes || !strings.HasPrefix(head, "telemetry audit.dropped - ") {
		return 0, false
	}
	n, err := strconv.ParseUint(count, 10, 64)
	return n, err == nil
}

// add appends a line, or counts it as dropped when the day is full.
func (d *auditDay) add(line []byte, t time.Time, maxDay int64) {
	end := d.size + int64(len(d.pending))
	if d.dropAt < 0 && end+int64(len(line)+dropLineBytes) <= maxDay {
		d.pending = append(d.pending, line...)
		return
	}
	if d.dropAt < 0 {
		d.dropAt = end
	}
	d.dropped++
	d.dropTo, d.dirty = t, true
}

// openDay opens the file of a day, writing its header when it is new,
// and finds its drop line if it has one.
func (a *AuditFiles) openDay(day string) (*auditDay, error) {
	path := filepath.Join(a.Dir, auditPrefix+day)
	f, err := atomicfile.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, atomicfile.ErrUnsafe) {
		// A link or a file that is also elsewhere, planted: replace the
		// name with a file of our own; what it pointed to is untouched.
		if err = os.Remove(path); err == nil {
			f, err = atomicfile.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("audit files: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit files: %w", err)
	}
	d := &auditDay{day: day, f: f, size: fi.Size(), dropAt: -1}
	if d.size == 0 {
		d.pending = append(d.pending, auditHeader...)
		return d, nil
	}
	tail := make([]byte, min(d.size, int64(dropLineBytes)))
	if _, err := f.ReadAt(tail, d.size-int64(len(tail))); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit files: %s: %w", path, err)
	}
	if n, ok := parseDropLine(tail); ok {
		d.dropAt, d.dropped = d.size-int64(dropLineBytes), n
	} else if tail[len(tail)-1] != '\n' { // cut by a crash or written by another
		d.pending = append(d.pending, '\n')
	}
	return d, nil
}

// finish writes the day's lines and its drop line, syncs and closes the
// file. On failure what was appended is cut off again, so that a retry
// does not write lines twice or leave half a line.
func (d *auditDay) finish() error {
	if d == nil {
		return nil
	}
	defer d.f.Close()
	err := d.write()
	if err == nil {
		err = datasync(d.f)
	}
	if err != nil {
		d.f.Truncate(d.size)
		return fmt.Errorf("audit files: %s: %w", d.f.Name(), err)
	}
	return nil
}

func (d *auditDay) write() error {
	if len(d.pending) > 0 {
		if _, err := d.f.WriteAt(d.pending, d.size); err != nil {
			return err
		}
	}
	if d.dirty {
		if _, err := d.f.WriteAt(appendDropLine(nil, d.dropped, d.dropTo), d.dropAt); err != nil {
			return err
		}
	}
	return nil
}

// prune removes all but the newest Keep daily files, and the oldest of
// those until they fit MaxTotalBytes (the newest is always kept).
func (a *AuditFiles) prune() error {
	entries, err := os.ReadDir(a.Dir)
	if err != nil {
		return fmt.Errorf("audit files: %w", err)
	}
	type dayFile struct {
		name string
		size int64
	}
	var days []dayFile
	var total int64
	for _, e := range entries {
		if d, ok := strings.CutPrefix(e.Name(), auditPrefix); ok && e.Type().IsRegular() {
			if _, err := time.Parse(auditDate, d); err == nil {
				fi, err := e.Info()
				if err != nil {
					continue
				}
				days = append(days, dayFile{e.Name(), fi.Size()})
				total += fi.Size()
			}
		}
	}
	slices.SortFunc(days, func(x, y dayFile) int { return strings.Compare(x.name, y.name) }) // ISO dates sort by time
	for len(days) > 1 && (len(days) > a.keep() || total > a.maxTotal()) {
		if err := os.Remove(filepath.Join(a.Dir, days[0].name)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("audit files: %w", err)
		}
		total -= days[0].size
		days = days[1:]
	}
	return nil
}

func appendAuditLine(b []byte, e *Event, t time.Time) []byte {
	version := e.AgentVersion
	if version == "" {
		version = "-"
	}
	b = appendAuditField(b, e.Type)
	b = append(b, ' ')
	b = appendAuditField(b, e.Name)
	b = append(b, ' ')
	b = appendAuditField(b, version)
	b = append(b, ' ')
	b = t.AppendFormat(b, timeFormatOnTheDay)
	return append(b, '\n')
}

// appendAuditField writes s with spaces, '%' and control characters as %XX.
func appendAuditField(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '%' || c == 0x7f {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}
