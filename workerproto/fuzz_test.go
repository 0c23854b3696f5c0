package workerproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Seed corpora live in testdata/fuzz/<FuzzName> and run with go test.

// FuzzFrameReader feeds arbitrary bytes to the frame reader and decodes
// every frame it yields: nothing may panic, frames stay within the limit,
// and every failure is a protocol error (or a clean end).
func FuzzFrameReader(f *testing.F) {
	ping, _ := encode(nil, &message{Type: typePing, ID: 3})
	f.Add(ping)
	f.Add(append(ping, 0, 0))
	f.Add([]byte("\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 512
		fr := newFrameReader(bytes.NewReader(data), max)
		read := 0
		for {
			p, err := fr.next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v is neither EOF nor a protocol error", err)
				}
				if errors.Is(err, ErrFrameTooLarge) != bytes.Contains([]byte(err.Error()), []byte("too large")) {
					t.Fatalf("error %v", err)
				}
				break
			}
			if len(p) == 0 || len(p) > max {
				t.Fatalf("frame of %d bytes", len(p))
			}
			read += frameHeaderSize + len(p)
			if read > len(data) {
				t.Fatalf("read %d bytes of frames from %d bytes", read, len(data))
			}
			if m, err := decode(p); err == nil {
				checkReencode(t, m)
			}
		}
	})
}

// FuzzDecode checks the hand-written decoder: it never accepts what is not
// JSON, every failure is a protocol error, and what it accepts re-encodes
// to a message that encoding/json and the decoder both read back the same.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"hello","name":"w","pid":42,"version":"1","protocols":[1,2],"secret":"ab","ready":true}`))
	f.Add([]byte(`{"type":"event","id":7,"event":{"id":"x-1","type":"t","name":"n","time":"2026-11-25T10:15:03.5+01:00","attributes":{"k":"v\u00e9\n"}}}`))
	f.Add([]byte(`{"type":"terminate","id":1,"deadline":"2026-11-25T10:15:03Z","x":[{"y":null},true,-1.5e3]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("decode error %v is not a protocol error", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("decoded invalid JSON %q", data)
		}
		checkReencode(t, m)
	})
}

// checkReencode encodes m and reads it back with both decoders.
func checkReencode(t *testing.T, m *message) {
	t.Helper()
	frame, err := encode(nil, m)
	if err != nil {
		return // a time outside the years JSON can carry
	}
	payload := frame[frameHeaderSize:]
	if !json.Valid(payload) {
		t.Fatalf("encoded invalid JSON %q", payload)
	}
	var ref message
	if err := json.Unmarshal(payload, &ref); err != nil {
		t.Fatalf("encoding/json cannot read %q: %v", payload, err)
	}
	back, err := decode(payload)
	if err != nil {
		t.Fatalf("cannot decode our own %q: %v", payload, err)
	}
	if diff := cmp.Diff(&ref, back, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("encoding/json and decode disagree on %q (-json +decode):\n%s", payload, diff)
	}
	if diff := cmp.Diff(m, back, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("re-encoding changed the message (-before +after):\n%s", diff)
	}
}

// FuzzEncode builds messages from fuzzed values, writes them with both
// encoders and checks that each decoder reads each the same.
func FuzzEncode(f *testing.F) {
	f.Add("event", uint64(1), "name", "detail\x00\"\\", "k", "v\xff", int64(1764065703000000000), 42)
	f.Fuzz(func(t *testing.T, typ string, id uint64, name, detail, k, v string, unixNano int64, pid int) {
		at := time.Unix(0, unixNano).In(time.FixedZone("", int(unixNano%86400)))
		m := &message{Type: typ, ID: id, Name: name, Detail: detail, PID: pid, Deadline: &at,
			Event: &Event{ID: k, Type: typ, Name: name, Time: at, Attributes: map[string]string{k: v}}}
		ours, err := encode(nil, m)
		if err != nil {
			return
		}
		theirs, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("encoding/json fails where ours does not: %v", err)
		}
		var fromOurs, fromTheirs message
		if err := json.Unmarshal(ours[frameHeaderSize:], &fromOurs); err != nil {
			t.Fatalf("encoding/json cannot read ours %q: %v", ours[frameHeaderSize:], err)
		}
		if err := json.Unmarshal(theirs, &fromTheirs); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&fromTheirs, &fromOurs, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("the encoders disagree (-encoding/json +ours):\n%s", diff)
		}
		if typ == "" {
			return // decode refuses a message without a type
		}
		decoded, err := decode(theirs)
		if err != nil {
			t.Fatalf("decode cannot read encoding/json's %q: %v", theirs, err)
		}
		if diff := cmp.Diff(&fromTheirs, decoded, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("decode reads encoding/json's output differently (-encoding/json +decode):\n%s", diff)
		}
	})
}
