package handover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// The wire of Dial and Handler: HTTP on a Unix socket.
//
//	GET  /status    → {"version": "3.2.0.0", "pid": 42, "healthy": true, …}
//	POST /handover  → {"pid": 42, "exec": true}; then the core hands over
//
// An agent may serve more on the same socket (other paths, more fields).

// An Agent is what Handler serves: the running core's side of Core.
type Agent interface {
	Status() Status
	// Handover starts handing over (after the reply is sent) and says
	// whether the core will exec in place; an error refuses it.
	Handover() (exec bool, err error)
}

// Handler serves an Agent on the paths Dial calls.
func Handler(a Agent) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.Status()) })
	mux.HandleFunc("POST /handover", func(w http.ResponseWriter, r *http.Request) {
		execs, err := a.Handover()
		if err != nil {
			http.Error(w, "no handover: "+err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, struct {
			PID  int  `json:"pid"`
			Exec bool `json:"exec"`
		}{a.Status().PID, execs})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Dial returns a Core that reaches the agent serving Handler's paths on
// the Unix socket at path.
func Dial(path string) Core {
	return &socketCore{path: path, client: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true, // a core execs or exits under the connection
	}}}
}

type socketCore struct {
	path   string
	client *http.Client
}

// maxReply bounds what a core's answer may be.
const maxReply = 1 << 20

func (c *socketCore) call(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://core"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) {
			return fmt.Errorf("no core answers on %s: %w", c.path, ne.Err)
		}
		return err
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxReply)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 1024))
		return fmt.Errorf("core: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return json.NewDecoder(body).Decode(out)
}

func (c *socketCore) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, "GET", "/status", &st)
	return st, err
}

func (c *socketCore) Handover(ctx context.Context) (bool, error) {
	var r struct {
		Exec bool `json:"exec"`
	}
	err := c.call(ctx, "POST", "/handover", &r)
	return r.Exec, err
}
