package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// Defaults and limits of AuditFiles. The defaults are the SSM Agent's.
const (
	// DefaultAuditPrefix starts the name of each daily file, followed by
	// the date YYYY-MM-DD: the SSM Agent's amazon-ssm-agent-audit-.
	DefaultAuditPrefix = "amazon-ssm-agent-audit-"
	// DefaultAuditHeader is the first line of each file, the SSM Agent's.
	DefaultAuditHeader = "SchemaVersion=1"
	// DefaultAuditKeep is how many daily files are kept by default, like
	// the SSM Agent's AuditExpirationDay.
	DefaultAuditKeep = 7
	// DefaultAuditMaxDayBytes and DefaultAuditMaxTotalBytes are the
	// default bounds of one day's file and of all of them.
	DefaultAuditMaxDayBytes   = 10 << 20
	DefaultAuditMaxTotalBytes = 100 << 20

	auditDate = "2006-01-02"
	// minAuditDayBytes is the least MaxDayBytes: a header, a few lines and
	// the drop line.
	minAuditDayBytes = 4 << 10
	// maxAuditPrefixBytes and maxAuditHeaderBytes bound Prefix and Header,
	// so that a file name fits any file system and a header a day's file.
	maxAuditPrefixBytes = 200
	maxAuditHeaderBytes = 1024
)

// AuditFiles writes events to a local audit log as a Sink: one file per
// local day, <Dir>/<Prefix>YYYY-MM-DD, starting with the line Header and
// then one line per event:
//
//	<type> <name> <agent version> <HH:MM:SS>
//
// By default these are the SSM Agent's audit files,
// amazon-ssm-agent-audit-YYYY-MM-DD starting with SchemaVersion=1, with
// lines such as "agent_telemetry amazon-ssm-agent.start 3.0.151.0 10:15:03";
// another agent sets its own Prefix and Header. Spaces, '%' and control
// characters in a field are written as %XX, so a field cannot break the
// line format. Files have mode 0600 in a 0700 directory (which must not be
// a symbolic link), and are never opened through a symbolic link or when
// they have another hard link: such an entry is replaced by a file of the
// sink's own. The newest Keep files are kept, within MaxTotalBytes; other
// files in Dir are left alone.
//
// A day's file holds at most MaxDayBytes: once it is full, that day's
// further events are dropped, and the file ends with one line that counts
// them, rewritten as the count grows:
//
//	telemetry audit.dropped - <HH:MM:SS of the last drop> count=0000001234
//
// Zero values mean the defaults; Validate (called by Open) refuses values
// out of range, naming the field. The fields must not change once the sink
// is in use.
type AuditFiles struct {
	// Dir is the audit directory, such as /var/log/amazon/ssm/audits;
	// while it is empty the sink is not configured (its events wait).
	Dir string
	// Prefix starts each file's name, before the date: a file name
	// element of at most 200 bytes, without a path separator or control
	// character. Default DefaultAuditPrefix.
	Prefix string
	// Header is the first line of each new file, without its newline:
	// at most 1024 bytes, without a control character. Default
	// DefaultAuditHeader; NoHeader leaves it out.
	Header string
	// NoHeader starts files with the first event instead of a header.
	NoHeader bool
	// Keep is the number of daily files kept, at least 1; default 7
	// (DefaultAuditKeep). The SSM Agent allows 3 to 30 (AuditExpirationDay).
	Keep int
	// MaxDayBytes bounds one day's file: at least 4 KiB; default 10 MiB
	// (DefaultAuditMaxDayBytes).
	MaxDayBytes int64
	// MaxTotalBytes bounds all the files: the oldest days are removed
	// until the rest fit. At least MaxDayBytes; default 100 MiB
	// (DefaultAuditMaxTotalBytes), or MaxDayBytes if that is larger.
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

// Validate reports the first field of a that is out of range, or nil.
// Open calls it for an AuditFiles in Config.Sinks.
func (a *AuditFiles) Validate() error {
	switch {
	case len(a.Prefix) > maxAuditPrefixBytes:
		return fmt.Errorf("AuditFiles.Prefix is %d bytes, the limit is %d", len(a.Prefix), maxAuditPrefixBytes)
	case strings.ContainsAny(a.Prefix, `/\`) || hasControl(a.Prefix) || a.Prefix == "." || a.Prefix == "..":
		return fmt.Errorf("AuditFiles.Prefix %q is not a file name element (no '/', '\\' or control characters)", a.Prefix)
	case len(a.Header) > maxAuditHeaderBytes:
		return fmt.Errorf("AuditFiles.Header is %d bytes, the limit is %d", len(a.Header), maxAuditHeaderBytes)
	case hasControl(a.Header):
		return fmt.Errorf("AuditFiles.Header %q has a newline or another control character", a.Header)
	case a.NoHeader && a.Header != "":
		return errors.New("AuditFiles.Header is set with NoHeader")
	case a.Keep < 0:
		return fmt.Errorf("AuditFiles.Keep is %d, want at least 1 (0: the default, %d)", a.Keep, DefaultAuditKeep)
	case a.MaxDayBytes < 0 || a.MaxDayBytes > 0 && a.MaxDayBytes < minAuditDayBytes:
		return fmt.Errorf("AuditFiles.MaxDayBytes is %d, want at least %d (0: the default, %d)", a.MaxDayBytes, minAuditDayBytes, DefaultAuditMaxDayBytes)
	case a.MaxTotalBytes < 0 || a.MaxTotalBytes > 0 && a.MaxTotalBytes < a.maxDay():
		return fmt.Errorf("AuditFiles.MaxTotalBytes is %d, want at least MaxDayBytes, %d (0: the default, %d)", a.MaxTotalBytes, a.maxDay(), DefaultAuditMaxTotalBytes)
	}
	return nil
}

// hasControl reports whether s has an ASCII control character or is not
// valid UTF-8.
func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

func (a *AuditFiles) prefix() string { return cmp.Or(a.Prefix, DefaultAuditPrefix) }

// header returns the first line of a new file, with its newline.
func (a *AuditFiles) header() string {
	if a.NoHeader {
		return ""
	}
	return cmp.Or(a.Header, DefaultAuditHeader) + "\n"
}

func (a *AuditFiles) keep() int { return cmp.Or(a.Keep, DefaultAuditKeep) }

func (a *AuditFiles) maxDay() int64 { return cmp.Or(a.MaxDayBytes, DefaultAuditMaxDayBytes) }

func (a *AuditFiles) maxTotal() int64 {
	return cmp.Or(a.MaxTotalBytes, max(DefaultAuditMaxTotalBytes, a.maxDay()))
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
	if err := a.Validate(); err != nil {
		return 0, err
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
	path := filepath.Join(a.Dir, a.prefix()+day)
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
		d.pending = append(d.pending, a.header()...)
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
		if d, ok := strings.CutPrefix(e.Name(), a.prefix()); ok && e.Type().IsRegular() {
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
