package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzSegment feeds arbitrary bytes to the spool as its newest segment:
// opening cuts whatever does not check out, nothing panics, and what
// readers then see are whole records with consecutive sequence numbers.
func FuzzSegment(f *testing.F) {
	good := appendRecord(nil, 1, []byte(`{"id":"a","type":"t","name":"n","time":"2026-11-25T10:15:03Z"}`))
	good = appendRecord(good, 2, []byte(`{"id":"b","type":"t","name":"n","time":"2026-11-25T10:15:04Z"}`))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(bytes.Clone(good), 0xff, 0, 0, 0))
	bad := bytes.Clone(good)
	bad[20] ^= 1
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		// The record reader on its own.
		rr := newRecordReader(bytes.NewReader(data), 1)
		var want uint64 = 1
		for {
			seq, payload, err := rr.next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, errCorrupt) {
					t.Fatalf("error %v", err)
				}
				break
			}
			if seq != want || len(payload) > maxRecordBytes {
				t.Fatalf("record seq %d (want %d), %d bytes", seq, want, len(payload))
			}
			want++
		}
		valid := rr.off

		// The spool opened over it.
		dir := t.TempDir()
		segs := filepath.Join(dir, "segments")
		os.MkdirAll(segs, 0o700)
		path := filepath.Join(segs, segmentName(1))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := openSpool(osFS{}, segs, 1<<20, 1)
		if err != nil {
			t.Fatalf("openSpool: %v", err)
		}
		defer s.close()
		if got, _ := scanFile(t, path, 1); got != valid {
			t.Fatalf("records end at %d after opening, want %d", got, valid)
		}
		c := newCursor(s, 0)
		defer c.close()
		recs, err := c.read(1000, 1<<30)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if uint64(len(recs)) != want-1 {
			t.Fatalf("read %d records, want %d", len(recs), want-1)
		}
		// Appending after the cut continues the sequence, and the new
		// record is read back after the old ones.
		s.arrive()
		err = s.append([]byte(`{}`))
		if seq := s.durable.Load(); err != nil || seq != want {
			t.Fatalf("append after the cut: seq %d, %v; want %d", seq, err, want)
		}
		more, err := c.read(1000, 1<<30)
		if err != nil || len(more) != 1 || more[0].seq != want {
			t.Fatalf("read after append: %d records, %v", len(more), err)
		}
	})
}

// FuzzCheckpoint feeds arbitrary bytes to the pipeline as a checkpoint:
// Open either fails with an error naming the file, or works and records.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte(`{"seq":0}`))
	f.Add([]byte(`{"seq":18446744073709551615}`))
	f.Add([]byte(`{"seq":-1}`))
	f.Add([]byte(`{"seq":1e30}`))
	f.Add([]byte(`{"seq":4611686018427387904}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o700)
		path := filepath.Join(dir, "checkpoints", "s.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := Open(Config{Dir: dir, Sinks: []SinkConfig{{Sink: newMemSink("s")}}})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name %s", err, path)
			}
			return
		}
		defer p.Close(context.Background())
		if err := p.Record(context.Background(), Event{Type: "t", Name: "n"}); err != nil {
			t.Fatal(err)
		}
		if st := p.Status()[0]; st.PendingEvents != 1 {
			t.Fatalf("status %+v after one record", st)
		}
	})
}

// FuzzAuditDay feeds arbitrary bytes to the audit files as today's file:
// Send never panics, keeps what was there (but a drop line it rewrites),
// and the file ends with whole lines.
func FuzzAuditDay(f *testing.F) {
	f.Add([]byte(DefaultAuditHeader + "\nagent_telemetry amazon-ssm-agent.start 3.0.151.0 10:15:03\n"))
	f.Add(append([]byte(DefaultAuditHeader+"\n"), appendDropLine(nil, 42, time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC))...))
	f.Add([]byte("telemetry audit.dropped - 10:00:00 count=9999999999\n"))
	f.Add([]byte("telemetry audit.dropped - 10:00:00 count=99999999999\n"))
	f.Add([]byte("half a line"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		path := filepath.Join(dir, DefaultAuditPrefix+at.Format(auditDate))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a := &AuditFiles{Dir: dir, MaxDayBytes: 4096, Location: time.UTC}
		events := make([]Event, 100)
		for i := range events {
			events[i] = Event{Type: "t", Name: "event-" + strconv.Itoa(i), Time: at}
		}
		if n, err := a.Send(context.Background(), events); err != nil || n != len(events) {
			t.Fatalf("Send = %d, %v", n, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		keep := len(data)
		if _, ok := parseDropLine(data[max(len(data)-dropLineBytes, 0):]); ok {
			keep -= dropLineBytes
		}
		if !bytes.HasPrefix(b, data[:keep]) {
			t.Fatalf("the file's earlier content was changed")
		}
		if rest := b[keep:]; len(rest) > 0 && rest[len(rest)-1] != '\n' {
			t.Fatalf("the file ends with a cut line: %q", rest)
		}
		if len(data) <= 4096-dropLineBytes && len(b) > 4096 {
			t.Fatalf("%d bytes, over the cap", len(b))
		}
	})
}
