package telemetry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Audit file naming, as the SSM Agent writes them.
const (
	auditPrefix = "amazon-ssm-agent-audit-"
	auditHeader = "SchemaVersion=1\n"
	auditDate   = "2006-01-02"
	// DefaultAuditKeep is how many daily files are kept by default, like
	// the SSM Agent's AuditExpirationDay.
	DefaultAuditKeep = 7
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
// directory; the newest Keep files are kept.
type AuditFiles struct {
	// Dir is the audit directory, such as /var/log/amazon/ssm/audits.
	Dir string
	// Keep is the number of daily files kept, like AuditExpirationDay:
	// from 3 to 30, default 7; values outside are brought into range.
	Keep int
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
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return 0, fmt.Errorf("audit files: %w", err)
	}
	loc := a.location()
	var (
		f    *os.File
		day  string
		line []byte
	)
	closeDay := func() error {
		if f == nil {
			return nil
		}
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		f = nil
		return err
	}
	for _, e := range events {
		t := e.Time.In(loc)
		if d := t.Format(auditDate); d != day || f == nil {
			if err := closeDay(); err != nil {
				return 0, fmt.Errorf("audit files: %w", err)
			}
			var err error
			if f, err = a.openDay(d); err != nil {
				return 0, err
			}
			day = d
		}
		line = appendAuditLine(line[:0], &e, t)
		if _, err := f.Write(line); err != nil {
			f.Close()
			return 0, fmt.Errorf("audit files: write %s: %w", f.Name(), err)
		}
	}
	if err := closeDay(); err != nil {
		return 0, fmt.Errorf("audit files: %w", err)
	}
	return len(events), a.prune()
}

// openDay opens the file of a day for appending, writing its header when
// it is new.
func (a *AuditFiles) openDay(day string) (*os.File, error) {
	path := filepath.Join(a.Dir, auditPrefix+day)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit files: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() == 0 {
		_, err = f.WriteString(auditHeader)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit files: %s: %w", path, err)
	}
	return f, nil
}

// prune removes all but the newest Keep daily files.
func (a *AuditFiles) prune() error {
	entries, err := os.ReadDir(a.Dir)
	if err != nil {
		return fmt.Errorf("audit files: %w", err)
	}
	var days []string
	for _, e := range entries {
		if d, ok := strings.CutPrefix(e.Name(), auditPrefix); ok {
			if _, err := time.Parse(auditDate, d); err == nil {
				days = append(days, e.Name())
			}
		}
	}
	slices.Sort(days) // ISO dates sort by time
	for len(days) > a.keep() {
		if err := os.Remove(filepath.Join(a.Dir, days[0])); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("audit files: %w", err)
		}
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
