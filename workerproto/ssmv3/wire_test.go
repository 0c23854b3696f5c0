package ssmv3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// Test vectors of the connection header, from the SP wire description.
var (
	surveyorHeader   = []byte{0x00, 0x53, 0x50, 0x00, 0x00, 0x62, 0x00, 0x00}
	respondentHeader = []byte{0x00, 0x53, 0x50, 0x00, 0x00, 0x63, 0x00, 0x00}
)

func TestHeader(t *testing.T) {
	if h := Header(ProtoSurveyor); !bytes.Equal(h[:], surveyorHeader) {
		t.Errorf("Header(ProtoSurveyor) = % x, want % x", h, surveyorHeader)
	}
	if h := Header(ProtoRespondent); !bytes.Equal(h[:], respondentHeader) {
		t.Errorf("Header(ProtoRespondent) = % x, want % x", h, respondentHeader)
	}
	if ProtoSurveyor != 0x62 || ProtoRespondent != 0x63 {
		t.Errorf("protocol numbers %#x, %#x", ProtoSurveyor, ProtoRespondent)
	}
}

// badHeaders are connection headers a respondent or a surveyor must refuse
// from a peer that should be a respondent.
var badHeaders = []struct {
	name string
	b    []byte
}{
	{"surveyor for a surveyor", surveyorHeader},
	{"bus protocol", []byte{0x00, 'S', 'P', 0x00, 0x00, 0x70, 0x00, 0x00}},
	{"respondent little-endian", []byte{0x00, 'S', 'P', 0x00, 0x63, 0x00, 0x00, 0x00}},
	{"bad magic", []byte{0x00, 'S', 'Q', 0x00, 0x00, 0x63, 0x00, 0x00}},
	{"nonzero version", []byte{0x00, 'S', 'P', 0x01, 0x00, 0x63, 0x00, 0x00}},
	{"nonzero reserved", []byte{0x00, 'S', 'P', 0x00, 0x00, 0x63, 0x00, 0x01}},
	{"http", []byte("GET / HTTP/1.1\r\n\r\n")},
}

// TestHandshake runs handshake against a peer that sends the given bytes
// and then closes, and checks what handshake sent.
func TestHandshake(t *testing.T) {
	run := func(t *testing.T, peerSends []byte) error {
		a, b := net.Pipe()
		defer a.Close()
		got := make(chan []byte, 1)
		go func() {
			defer b.Close()
			read := make(chan []byte, 1)
			go func() {
				buf := make([]byte, 8)
				n, _ := io.ReadFull(b, buf)
				read <- buf[:n]
			}()
			b.Write(peerSends)
			got <- <-read
		}()
		err := handshake(a, ProtoSurveyor, ProtoRespondent)
		a.Close() // unblocks a peer that sends more than a header
		if sent := <-got; !bytes.Equal(sent, surveyorHeader) {
			t.Errorf("handshake sent % x, want % x", sent, surveyorHeader)
		}
		return err
	}
	t.Run("good", func(t *testing.T) {
		if err := run(t, respondentHeader); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range badHeaders {
		t.Run(c.name, func(t *testing.T) {
			if err := run(t, c.b); !errors.Is(err, ErrBadHeader) {
				t.Fatalf("handshake = %v, want ErrBadHeader", err)
			}
		})
	}
	for _, n := range []int{0, 1, 4, 7} {
		t.Run(fmt.Sprintf("truncated to %d", n), func(t *testing.T) {
			if err := run(t, respondentHeader[:n]); !errors.Is(err, ErrBadHeader) {
				t.Fatalf("handshake after %d bytes = %v, want ErrBadHeader", n, err)
			}
		})
	}
}

// TestDialRefusesBadHeader: Dial refuses a surveyor whose header is wrong
// or cut short, and closes the connection.
func TestDialRefusesBadHeader(t *testing.T) {
	cases := append([]struct {
		name string
		b    []byte
	}{{"respondent for a respondent", respondentHeader}, {"truncated", surveyorHeader[:5]}},
		badHeaders[1:]...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(socketDir(t), "s")
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			dialed := make(chan error, 1)
			go func() {
				r, err := Dial(testContext(t), path)
				if err == nil {
					r.Close()
				}
				dialed <- err
			}()
			nc, err := ln.AcceptUnix()
			if err != nil {
				t.Fatal(err)
			}
			p := newRawPeer(t, nc)
			if got := p.readN(8); !bytes.Equal(got, respondentHeader) {
				t.Errorf("Dial sent % x, want % x", got, respondentHeader)
			}
			p.write(c.b)
			if len(c.b) < 8 {
				nc.CloseWrite()
			}
			if err := await(t, dialed); !errors.Is(err, ErrBadHeader) {
				t.Errorf("Dial = %v, want ErrBadHeader", err)
			}
			p.expectClosed(0)
		})
	}
}

func TestDialNothingListening(t *testing.T) {
	_, err := Dial(testContext(t), filepath.Join(socketDir(t), "none"))
	if err == nil {
		t.Fatal("Dial succeeded with nothing listening")
	}
}

func TestWriteFrame(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte{0x80, 0x00, 0x00, 0x01}, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x80, 0x00, 0x00, 0x01, 'h', 'i'}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteFrame wrote % x, want % x", buf.Bytes(), want)
	}

	buf.Reset()
	if err := WriteFrame(&buf); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0}; !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("empty frame % x, want % x", buf.Bytes(), want)
	}

	// The length is 64-bit big-endian: 0x012345 bytes.
	buf.Reset()
	if err := WriteFrame(&buf, make([]byte, 0x012345)); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x01, 0, 0, 0, 0, 0, 0x01, 0x23, 0x45}; !bytes.Equal(buf.Bytes()[:9], want) || buf.Len() != 9+0x012345 {
		t.Errorf("frame header % x (%d bytes), want % x", buf.Bytes()[:9], buf.Len(), want)
	}

	// Exactly the limit, counting all the parts, goes; one byte more not,
	// and then nothing is written.
	buf.Reset()
	if err := WriteFrame(&buf, make([]byte, 4), make([]byte, MaxFrameSize-4)); err != nil {
		t.Errorf("frame of MaxFrameSize: %v", err)
	}
	buf.Reset()
	if err := WriteFrame(&buf, make([]byte, 4), make([]byte, MaxFrameSize-3)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame of MaxFrameSize+1: %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Errorf("a refused frame wrote %d bytes", buf.Len())
	}
}

// frameHead returns a frame header: the message byte and length n.
func frameHead(n uint64) []byte {
	b := []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := 8; i >= 1; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return b
}

func TestReadFrame(t *testing.T) {
	t.Run("exact bytes", func(t *testing.T) {
		in := []byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x80, 0x00, 0x00, 0x01, 'h', 'i', 0xff}
		r := bytes.NewReader(in)
		got, err := ReadFrame(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := []byte{0x80, 0x00, 0x00, 0x01, 'h', 'i'}; !bytes.Equal(got, want) {
			t.Errorf("ReadFrame = % x, want % x", got, want)
		}
		if r.Len() != 1 {
			t.Errorf("ReadFrame left %d bytes, want the 1 after the frame", r.Len())
		}
	})
	t.Run("empty", func(t *testing.T) {
		got, err := ReadFrame(bytes.NewReader(frameHead(0)), 0)
		if err != nil || len(got) != 0 {
			t.Errorf("ReadFrame = % x, %v; want an empty frame", got, err)
		}
	})
	t.Run("back to back", func(t *testing.T) {
		var buf bytes.Buffer
		WriteFrame(&buf, []byte("one"))
		WriteFrame(&buf, []byte("two"), []byte("!"))
		for _, want := range []string{"one", "two!"} {
			got, err := ReadFrame(&buf, 0)
			if err != nil || string(got) != want {
				t.Fatalf("ReadFrame = %q, %v; want %q", got, err, want)
			}
		}
		if _, err := ReadFrame(&buf, 0); err != io.EOF {
			t.Errorf("at the end: %v, want io.EOF", err)
		}
	})
	t.Run("limit", func(t *testing.T) {
		in := append(frameHead(10), make([]byte, 10)...)
		if _, err := ReadFrame(bytes.NewReader(in), 10); err != nil {
			t.Errorf("frame at the limit: %v", err)
		}
		in = append(frameHead(11), make([]byte, 11)...)
		r := bytes.NewReader(in)
		if _, err := ReadFrame(r, 10); !errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("frame over the limit: %v, want ErrFrameTooLarge", err)
		}
		if r.Len() != 11 {
			t.Errorf("%d bytes of the body read, want none", 11-r.Len())
		}
	})
	t.Run("over MaxFrameSize", func(t *testing.T) {
		for _, n := range []uint64{MaxFrameSize + 1, 1 << 32, 1 << 63, ^uint64(0)} {
			// The body is not there: reading it would fail otherwise.
			r := bytes.NewReader(append(frameHead(n), "body"...))
			for _, max := range []int{0, -1, MaxFrameSize} {
				r.Seek(0, io.SeekStart)
				if _, err := ReadFrame(r, max); !errors.Is(err, ErrFrameTooLarge) {
					t.Errorf("length %d, max %d: %v, want ErrFrameTooLarge", n, max, err)
				}
				if r.Len() != 4 {
					t.Errorf("length %d: the body was read", n)
				}
			}
		}
		in := append(frameHead(MaxFrameSize), make([]byte, MaxFrameSize)...)
		if got, err := ReadFrame(bytes.NewReader(in), 0); err != nil || len(got) != MaxFrameSize {
			t.Errorf("frame of MaxFrameSize: %d bytes, %v", len(got), err)
		}
	})
	t.Run("bad first byte", func(t *testing.T) {
		for _, b := range []byte{0x00, 0x02, 0x81, 0xff} {
			in := append(frameHead(2), 'h', 'i')
			in[0] = b
			if _, err := ReadFrame(bytes.NewReader(in), 0); !errors.Is(err, ErrBadFrame) {
				t.Errorf("first byte 0x%02x: %v, want ErrBadFrame", b, err)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		whole := append(frameHead(5), "hello"...)
		if _, err := ReadFrame(bytes.NewReader(nil), 0); err != io.EOF {
			t.Errorf("no bytes: %v, want io.EOF", err)
		}
		for n := 1; n < len(whole); n++ {
			if _, err := ReadFrame(bytes.NewReader(whole[:n]), 0); err != io.ErrUnexpectedEOF {
				t.Errorf("%d of %d bytes: %v, want io.ErrUnexpectedEOF", n, len(whole), err)
			}
		}
	})
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		r := io.MultiReader(bytes.NewReader(frameHead(5)), errReader{boom})
		if _, err := ReadFrame(r, 0); !errors.Is(err, boom) {
			t.Errorf("ReadFrame = %v, want the reader's error", err)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestSplitRequest(t *testing.T) {
	id := []byte{0x80, 0x00, 0x00, 0x2a}
	hop := func(n byte) []byte { return []byte{0x00, 0x00, 0x00, n} }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ok := []struct {
		name     string
		frame    []byte
		bt, body []byte
	}{
		{"id only", cat(id, []byte("body")), id, []byte("body")},
		{"id and no body", id, id, nil},
		{"two hops", cat(hop(1), hop(2), id, []byte("x")), cat(hop(1), hop(2), id), []byte("x")},
		{"top bit only in the first byte counts", cat([]byte{0x00, 0x80, 0x80, 0x80}, id, []byte("x")), cat([]byte{0x00, 0x80, 0x80, 0x80}, id), []byte("x")},
		{"body with the top bit", cat(id, id), id, id},
		{"seven hops", cat(hop(1), hop(2), hop(3), hop(4), hop(5), hop(6), hop(7), id), cat(hop(1), hop(2), hop(3), hop(4), hop(5), hop(6), hop(7), id), nil},
	}
	for _, c := range ok {
		bt, body, err := SplitRequest(c.frame)
		if err != nil || !bytes.Equal(bt, c.bt) || !bytes.Equal(body, c.body) {
			t.Errorf("%s: SplitRequest = % x, %q, %v; want % x, %q", c.name, bt, body, err, c.bt, c.body)
		}
	}
	bad := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"short id", id[:3]},
		{"no survey id", cat(hop(1), hop(2))},
		{"hop then short id", cat(hop(1), id[:2])},
		{"eight hops", cat(hop(1), hop(2), hop(3), hop(4), hop(5), hop(6), hop(7), hop(8), id)},
	}
	for _, c := range bad {
		if bt, body, err := SplitRequest(c.frame); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: SplitRequest = % x, %q, %v; want ErrBadFrame", c.name, bt, body, err)
		}
	}
}

func TestSplitReply(t *testing.T) {
	id, body, err := SplitReply([]byte{0x80, 0x00, 0x00, 0x2a, '{', '}'})
	if err != nil || id != 0x8000002a || string(body) != "{}" {
		t.Errorf("SplitReply = %#x, %q, %v; want 0x8000002a, {}", id, body, err)
	}
	id, body, err = SplitReply([]byte{0xff, 0xff, 0xff, 0xff})
	if err != nil || id != 0xffffffff || len(body) != 0 {
		t.Errorf("SplitReply = %#x, %q, %v; want 0xffffffff and no body", id, body, err)
	}
	for _, f := range [][]byte{nil, {0x80}, {0x80, 0, 0}, {0x00, 0x00, 0x00, 0x2a, '{', '}'}, {0x7f, 0xff, 0xff, 0xff}} {
		if _, _, err := SplitReply(f); !errors.Is(err, ErrBadFrame) {
			t.Errorf("SplitReply(% x) = %v, want ErrBadFrame", f, err)
		}
	}
}

// TestRespondentBacktrace drives a Respondent from a raw surveyor: the
// backtrace of several words is echoed in front of the reply.
func TestRespondentBacktrace(t *testing.T) {
	path := filepath.Join(socketDir(t), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed := make(chan *Respondent, 1)
	go func() {
		r, err := Dial(context.Background(), path)
		if err != nil {
			t.Error(err)
		}
		dialed <- r
	}()
	nc, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t, nc)
	p.handshake(ProtoSurveyor, ProtoRespondent)
	r := await(t, dialed)
	if r == nil {
		t.FailNow()
	}
	defer r.Close()

	p.write([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x0f\x00\x00\x00\x09\x00\x00\x00\x08\x80\x00\x00\x07req"))
	req, err := r.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x00\x00\x00\x09\x00\x00\x00\x08\x80\x00\x00\x07"; string(req.Backtrace) != want || string(req.Body) != "req" {
		t.Fatalf("Recv = % x, %q", req.Backtrace, req.Body)
	}
	if err := r.Reply(req, []byte("rep")); err != nil {
		t.Fatal(err)
	}
	if got, want := p.readN(24), "\x01\x00\x00\x00\x00\x00\x00\x00\x0f\x00\x00\x00\x09\x00\x00\x00\x08\x80\x00\x00\x07rep"; string(got) != want {
		t.Errorf("reply % x, want % x", got, want)
	}

	// A request without a survey id breaks the protocol: the respondent
	// closes the connection.
	p.write([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x01"))
	if _, err := r.Recv(); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Recv = %v, want ErrBadFrame", err)
	}
	p.expectClosed(0)
	if _, err := r.Recv(); err == nil {
		t.Errorf("Recv after the close = %v", err)
	}
}
