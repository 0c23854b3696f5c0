// Package ctlhttp is the plumbing of a control channel in HTTP on a Unix
// socket, shared by selfupdate/handover and the reference agent: bounded
// JSON requests and answers, and a client that dials the socket.
package ctlhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// Limits of control requests: their bodies are a few small fields.
const (
	MaxBody   = 4 << 10
	MaxHeader = 16 << 10
	// MaxReply bounds an answer a client reads.
	MaxReply = 1 << 20
)

// Decode reads a request's JSON body, of at most MaxBody bytes and with no
// unknown field, into v; an empty body leaves v zero when allowEmpty. It
// answers a bad request itself (413 or 400, without echoing more than a
// short error) and returns false.
func Decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && allowEmpty {
		return true
	}
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		http.Error(w, fmt.Sprintf("request body over %d bytes", MaxBody), http.StatusRequestEntityTooLarge)
	default:
		msg := err.Error()
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		http.Error(w, "want a JSON object: "+strings.ToValidUTF8(msg, "?"), http.StatusBadRequest)
	}
	return false
}

// Write answers a request with v in JSON.
func Write(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Client returns a client whose every connection dials the Unix socket at
// path; keepAlive false makes one connection per request (for a server
// that may exec or exit under it).
func Client(path string, keepAlive bool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: !keepAlive,
	}}
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	Code int
	Msg  string // the answer's first KiB, trimmed
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("core: %d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

// Call sends method path with body (nil: none) in JSON, and decodes the
// JSON answer into out (nil: ignored). An answer other than 200 is a
// *StatusError; one that cannot connect is the client's error, which holds
// a *net.OpError.
func Call(ctx context.Context, c *http.Client, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://core"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r := io.LimitReader(resp.Body, MaxReply)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(r, 1024))
		return &StatusError{Code: resp.StatusCode, Msg: strings.TrimSpace(string(msg))}
	}
	if out == nil {
		io.Copy(io.Discard, r)
		return nil
	}
	return json.NewDecoder(r).Decode(out)
}
