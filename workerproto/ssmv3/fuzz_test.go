package ssmv3

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName> and run with go test.

// FuzzReadFrame feeds arbitrary bytes to ReadFrame: nothing panics, a frame
// is never longer than the limit nor than the input, exactly its bytes are
// consumed, a refused length leaves the body unread, every failure is one
// of the documented ones, and WriteFrame's output reads back as written.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x06\x80\x00\x00\x01hi"))
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x00\x01\x01"))
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00\x01x"))
	f.Add([]byte("\x01\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 256
		r := bytes.NewReader(data)
		frame, err := ReadFrame(r, max)
		consumed := len(data) - r.Len()
		switch {
		case err == nil:
			n := binary.BigEndian.Uint64(data[1:9])
			if data[0] != 0x01 || n != uint64(len(frame)) || len(frame) > max {
				t.Fatalf("frame of %d bytes accepted from header % x", len(frame), data[:9])
			}
			if consumed != 9+len(frame) || !bytes.Equal(frame, data[9:consumed]) {
				t.Fatalf("consumed %d bytes for a frame of %d", consumed, len(frame))
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, frame); err != nil || !bytes.Equal(buf.Bytes(), data[:consumed]) {
				t.Fatalf("WriteFrame of the frame read = % x, %v; want % x", buf.Bytes(), err, data[:consumed])
			}
		case errors.Is(err, ErrFrameTooLarge):
			if len(data) < 9 || data[0] != 0x01 || binary.BigEndian.Uint64(data[1:9]) <= max {
				t.Fatalf("%v on % x", err, data[:min(len(data), 9)])
			}
			if consumed != 9 {
				t.Fatalf("a refused frame consumed %d bytes, want the header's 9", consumed)
			}
		case errors.Is(err, ErrBadFrame):
			if len(data) < 9 || data[0] == 0x01 || consumed != 9 {
				t.Fatalf("%v on % x (consumed %d)", err, data[:min(len(data), 9)], consumed)
			}
		case err == io.EOF:
			if len(data) != 0 {
				t.Fatalf("io.EOF from %d bytes", len(data))
			}
		case err == io.ErrUnexpectedEOF:
			if len(data) == 0 || consumed != len(data) {
				t.Fatalf("io.ErrUnexpectedEOF with %d of %d bytes consumed", consumed, len(data))
			}
			if len(data) >= 9 && 9+binary.BigEndian.Uint64(data[1:9]) <= uint64(len(data)) {
				t.Fatalf("io.ErrUnexpectedEOF with the whole frame there")
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}

		// Any bytes, split anywhere, go through WriteFrame and back.
		if len(data) <= max {
			cut := len(data) / 3
			var buf bytes.Buffer
			if err := WriteFrame(&buf, data[:cut], data[cut:]); err != nil {
				t.Fatal(err)
			}
			if buf.Len() != 9+len(data) || buf.Bytes()[0] != 0x01 {
				t.Fatalf("WriteFrame wrote %d bytes for %d", buf.Len(), len(data))
			}
			back, err := ReadFrame(&buf, max)
			if err != nil || !bytes.Equal(back, data) || buf.Len() != 0 {
				t.Fatalf("round trip: % x, %v (%d bytes left); want % x", back, err, buf.Len(), data)
			}
		}
	})
}

// FuzzSplitRequest: a request splits into a backtrace of whole words ending
// with the first one with the top bit set, within the hop limit, and the
// rest; anything else is ErrBadFrame. A reply built from it splits back.
func FuzzSplitRequest(f *testing.F) {
	f.Add([]byte("\x80\x00\x00\x01{}"))
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x00\x02\x80\x00\x00\x07x"))
	f.Add([]byte("\x00\x00\x00\x01"))
	f.Add([]byte("\x80\x00"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		bt, body, err := SplitRequest(frame)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v is not ErrBadFrame", err)
			}
			for i := 0; i+4 <= len(frame) && i < 4*maxHops; i += 4 {
				if frame[i]&0x80 != 0 {
					t.Fatalf("refused % x with a survey id at word %d", frame, i/4)
				}
			}
			return
		}
		if len(bt) == 0 || len(bt)%4 != 0 || len(bt) > 4*maxHops {
			t.Fatalf("backtrace of %d bytes", len(bt))
		}
		for i := 0; i < len(bt)-4; i += 4 {
			if bt[i]&0x80 != 0 {
				t.Fatalf("backtrace % x goes on after a survey id", bt)
			}
		}
		if bt[len(bt)-4]&0x80 == 0 {
			t.Fatalf("backtrace % x does not end with a survey id", bt)
		}
		if !bytes.Equal(append(bytes.Clone(bt), body...), frame) {
			t.Fatalf("split % x into % x and % x", frame, bt, body)
		}
		if len(bt) == 4 {
			id, rbody, err := SplitReply(frame)
			if err != nil || id != binary.BigEndian.Uint32(bt) || !bytes.Equal(rbody, body) {
				t.Fatalf("SplitReply = %#x, % x, %v", id, rbody, err)
			}
		}
	})
}

// FuzzParseMessage: a message accepted is one JSON object with a topic,
// and marshals to a body that parses back to the same message.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(wantHealthRequest))
	f.Add([]byte(wantHealthResult1234))
	f.Add([]byte(`{"Topic":"X"}}`))
	f.Add([]byte(`{"topic":"x","payload":"e30="} `))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMessage(body)
		if err != nil {
			return
		}
		if m.Topic == "" {
			t.Fatalf("accepted %q without a topic", body)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted %q, which is not one JSON value", body)
		}
		again, err := ParseMessage(m.Marshal())
		if err != nil {
			t.Fatalf("re-parsing %s: %v", m.Marshal(), err)
		}
		if again.SchemaVersion != m.SchemaVersion || again.Topic != m.Topic || !bytes.Equal(again.Payload, m.Payload) || (again.Payload == nil) != (m.Payload == nil) {
			t.Fatalf("%+v marshals to %s, which parses to %+v", m, m.Marshal(), again)
		}
		if h, err := ParseHealth(m); err == nil && h.Pid <= 0 {
			t.Fatalf("health with pid %d accepted", h.Pid)
		}
	})
}
