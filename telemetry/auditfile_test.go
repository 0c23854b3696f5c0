package telemetry

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestAuditFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audits")
	loc := time.FixedZone("X", 3600)
	a := &AuditFiles{Dir: dir, Location: loc}
	events := []Event{
		{Type: typeAgentTelemetry, Name: nameAgentStart, AgentVersion: "3.0.151.0", Time: time.Date(2026, 11, 24, 9, 15, 3, 0, time.UTC)},
		{Type: typeUpdateResult, Name: "UpdateSucceeded_SelfUpdate-3.3.987.0", AgentVersion: "3.0.151.0", Time: time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)},
		{Type: "custom", Name: "has space\nand newline 100%", Time: time.Date(2026, 11, 25, 10, 0, 0, 0, loc)},
	}
	n, err := a.Send(context.Background(), events)
	if err != nil || n != 3 {
		t.Fatalf("Send = %d, %v", n, err)
	}
	read := func(day string) string {
		b, err := os.ReadFile(filepath.Join(dir, "amazon-ssm-agent-audit-"+day))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read("2026-11-24"), "SchemaVersion=1\nagent_telemetry amazon-ssm-agent.start 3.0.151.0 10:15:03\n"; got != want {
		t.Errorf("2026-11-24:\n%q\nwant\n%q", got, want)
	}
	// 23:30 UTC is 00:30 the next day in this zone; the line format holds.
	want := "SchemaVersion=1\nagent_update_result UpdateSucceeded_SelfUpdate-3.3.987.0 3.0.151.0 00:30:00\n" +
		"custom has%20space%0Aand%20newline%20100%25 - 10:00:00\n"
	if got := read("2026-11-25"); got != want {
		t.Errorf("2026-11-25:\n%q\nwant\n%q", got, want)
	}
	// Appending keeps one header.
	a.Send(context.Background(), events[:1])
	if got := read("2026-11-24"); strings.Count(got, "SchemaVersion=1") != 1 || strings.Count(got, "\n") != 3 {
		t.Errorf("after a second send:\n%s", got)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(dir)
		ff, _ := os.Stat(filepath.Join(dir, "amazon-ssm-agent-audit-2026-11-24"))
		if fi.Mode().Perm() != 0o700 || ff.Mode().Perm() != 0o600 {
			t.Errorf("modes %v and %v, want 0700 and 0600", fi.Mode().Perm(), ff.Mode().Perm())
		}
	}
}

func TestAuditFilesRetention(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "unrelated"), []byte("x"), 0o600)
	a := &AuditFiles{Dir: dir, Keep: 3, Location: time.UTC}
	for day := 1; day <= 10; day++ {
		e := Event{Type: "t", Name: "n", Time: time.Date(2026, 11, day, 12, 0, 0, 0, time.UTC)}
		if _, err := a.Send(context.Background(), []Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "amazon-ssm-agent-audit-2026-11-08 amazon-ssm-agent-audit-2026-11-09 amazon-ssm-agent-audit-2026-11-10 unrelated"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("files: %s", got)
	}
	for keep, want := range map[int]int{0: 7, 1: 1, 100: 100, 12: 12} {
		if got := (&AuditFiles{Keep: keep}).keep(); got != want {
			t.Errorf("Keep %d → %d, want %d", keep, got, want)
		}
	}
}

// TestAuditFilesValidate: values out of range are refused, by Validate, by
// Send and by Open, naming the field; none of them creates a file.
func TestAuditFilesValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		a    AuditFiles
		want string
	}{
		{AuditFiles{Keep: -1}, "AuditFiles.Keep is -1"},
		{AuditFiles{MaxDayBytes: -1}, "AuditFiles.MaxDayBytes is -1"},
		{AuditFiles{MaxDayBytes: 100}, "AuditFiles.MaxDayBytes is 100, want at least 4096"},
		{AuditFiles{MaxDayBytes: 8192, MaxTotalBytes: 4096}, "AuditFiles.MaxTotalBytes is 4096"},
		{AuditFiles{MaxTotalBytes: 1 << 20}, "AuditFiles.MaxTotalBytes is 1048576"}, // below the default day
		{AuditFiles{Prefix: "../x-"}, "AuditFiles.Prefix"},
		{AuditFiles{Prefix: "a\\b"}, "AuditFiles.Prefix"},
		{AuditFiles{Prefix: ".."}, "AuditFiles.Prefix"},
		{AuditFiles{Prefix: strings.Repeat("p", 201)}, "AuditFiles.Prefix is 201 bytes"},
		{AuditFiles{Header: "a\nb"}, "AuditFiles.Header"},
		{AuditFiles{Header: "\xff"}, "AuditFiles.Header"},
		{AuditFiles{Header: strings.Repeat("h", 1025)}, "AuditFiles.Header is 1025 bytes"},
		{AuditFiles{Header: "h", NoHeader: true}, "AuditFiles.Header is set with NoHeader"},
	}
	for _, tt := range tests {
		a := tt.a
		a.Dir = filepath.Join(dir, "audits")
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.a, err, tt.want)
		}
		if _, err := a.Send(context.Background(), []Event{{Type: "t", Name: "n"}}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Send with %+v = %v, want %q", tt.a, err, tt.want)
		}
		_, err := Open(Config{Dir: filepath.Join(dir, "spool"), Sinks: []SinkConfig{{Sink: &a}}})
		if err == nil || !strings.Contains(err.Error(), "Config.Sinks[0] (audit): "+tt.want) {
			t.Errorf("Open with %+v = %v, want %q", tt.a, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "audits")); !os.IsNotExist(err) {
		t.Errorf("an invalid sink made its directory: %v", err)
	}
	ok := AuditFiles{Prefix: "myagent-audit-", Header: "format=2 (myagent)", Keep: 1, MaxDayBytes: 4096, MaxTotalBytes: 4096}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
}

// TestAuditFilesPrefixAndHeader: an agent's own names and header, or none;
// retention counts only the files of the sink's prefix.
func TestAuditFilesPrefixAndHeader(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC)
	ssmFile := filepath.Join(dir, DefaultAuditPrefix+"2026-11-01")
	os.WriteFile(ssmFile, []byte("x"), 0o600)
	for _, tt := range []struct {
		a    AuditFiles
		file string
		want string
	}{
		{AuditFiles{Prefix: "myagent-", Header: "v=2"}, "myagent-2026-11-25", "v=2\nt n - 10:15:03\n"},
		{AuditFiles{Prefix: "bare-", NoHeader: true}, "bare-2026-11-25", "t n - 10:15:03\n"},
	} {
		a := tt.a
		a.Dir, a.Keep, a.Location = dir, 1, time.UTC
		for i := range 2 { // the second day removes the first of this prefix only
			e := Event{Type: "t", Name: "n", Time: at.AddDate(0, 0, -1+i)}
			if _, err := a.Send(context.Background(), []Event{e}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, tt.file))
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.file, b, err, tt.want)
		}
		if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(tt.file, "25")+"24")); !os.IsNotExist(err) {
			t.Errorf("%s: the day before is kept with Keep 1: %v", tt.file, err)
		}
	}
	if _, err := os.Stat(ssmFile); err != nil {
		t.Errorf("another prefix's file was removed: %v", err)
	}
}

func TestAuditFilesErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := (&AuditFiles{Dir: file}).Send(context.Background(), []Event{{Type: "t", Name: "n"}}); err == nil {
		t.Error("writing into a file as a directory succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&AuditFiles{Dir: t.TempDir()}).Send(ctx, []Event{{Type: "t", Name: "n"}}); err == nil {
		t.Error("Send on a cancelled context succeeded")
	}
}

// TestAuditFilesCaps: a day's file stops at MaxDayBytes and its last line
// counts what was dropped, across sends and restarts; the next day starts
// afresh; all the files stay within MaxTotalBytes.
func TestAuditFilesCaps(t *testing.T) {
	dir := t.TempDir()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	burst := func(a *AuditFiles, d, n int) {
		t.Helper()
		events := make([]Event, n)
		for i := range events {
			events[i] = Event{Type: "chatty", Name: "worker.said-something", AgentVersion: "3.3.987.0", Time: day(d).Add(time.Duration(i) * time.Second)}
		}
		if got, err := a.Send(context.Background(), events); err != nil || got != n {
			t.Fatalf("Send = %d, %v", got, err)
		}
	}
	check := func(d, wantTotal int) {
		t.Helper()
		path := filepath.Join(dir, DefaultAuditPrefix+day(d).Format(auditDate))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4096 {
			t.Errorf("day %d: %d bytes, over the cap", d, len(b))
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		n, ok := parseDropLine([]byte(lines[len(lines)-1] + "\n"))
		if !ok {
			t.Fatalf("day %d ends with %q, not a drop line", d, lines[len(lines)-1])
		}
		if kept := len(lines) - 2; kept+int(n) != wantTotal {
			t.Errorf("day %d: %d lines kept + %d dropped, want %d events", d, kept, n, wantTotal)
		}
	}
	a := &AuditFiles{Dir: dir, MaxDayBytes: 4096, MaxTotalBytes: 3 * 4096, Location: time.UTC}
	burst(a, 1, 1000)
	check(1, 1000)
	burst(a, 1, 10)
	check(1, 1010)
	restarted := &AuditFiles{Dir: dir, MaxDayBytes: 4096, MaxTotalBytes: 3 * 4096, Location: time.UTC}
	burst(restarted, 1, 5)
	check(1, 1015)
	for d := 2; d <= 5; d++ {
		burst(restarted, d, 300)
		check(d, 300)
	}
	entries, _ := os.ReadDir(dir)
	var total int64
	for _, e := range entries {
		fi, _ := e.Info()
		total += fi.Size()
	}
	if len(entries) != 3 || total > 3*4096 {
		t.Errorf("%d files, %d bytes; want 3 within %d", len(entries), total, 3*4096)
	}
	if got := (&AuditFiles{}); got.maxDay() != DefaultAuditMaxDayBytes || got.maxTotal() != DefaultAuditMaxTotalBytes {
		t.Errorf("defaults %d and %d", got.maxDay(), got.maxTotal())
	}
}
