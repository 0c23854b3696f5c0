package telemetry

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
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
