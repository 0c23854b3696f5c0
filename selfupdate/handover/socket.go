package handover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/ssmkit/ssmkit/internal/ctlhttp"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// The wire of Dial and Handler: HTTP on a Unix socket.
//
//	GET  /status           → {"version": "3.2.0.0", "pid": 42, "healthy": true, …}
//	POST /handover         → {"pid": 42, "exec": true}; then the core hands over
//	POST /result           {"code": …, "source": …, "target": …} → {"recorded": true}
//	POST /workers/restart  → {"restarted": ["worker", …]}
//
// Request bodies are at most 4 KiB of JSON with no unknown field (413 or
// 400 otherwise). /result and /workers/restart are served when the Agent
// implements Reporter and WorkerRestarter (404 otherwise, which a Guardian
// takes as "not supported"). An agent may serve more on the same socket:
// other paths, and more fields in its status (mount Handler at "/" and its
// own "GET /status" beside it).

// An Agent is what Handler serves: the running core's side of Core.
type Agent interface {
	Status() Status
	// Handover starts handing over (after the reply is sent) and says
	// whether the core will exec in place; an error refuses it, and then
	// nothing must have stopped.
	Handover() (exec bool, err error)
}

// A Reporter is an Agent told that a guardian has ended an update (POST
// /result): it tells the result, which the journal holds — Recover of the
// agent's own Updater tells it to OnResult once, whichever process gets
// there first.
type Reporter interface {
	Report(ctx context.Context, r selfupdate.Result) error
}

// A WorkerRestarter is an Agent that restarts, once the version it runs
// is healthy, its workers still running an older executable (POST
// /workers/restart), such as with supervisor.Supervisor.RestartStale, and
// names them.
type WorkerRestarter interface {
	RestartWorkers(ctx context.Context) ([]string, error)
}

// resultBody is the body of POST /result. Key is what earlier versions
// sent; it is accepted and not needed.
type resultBody struct {
	Code   string `json:"code"`
	Source string `json:"source"`
	Target string `json:"target"`
	Key    string `json:"key,omitempty"`
}

// Handler serves an Agent on the paths Dial calls.
func Handler(a Agent) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { ctlhttp.Write(w, a.Status()) })
	mux.HandleFunc("POST /handover", func(w http.ResponseWriter, r *http.Request) {
		execs, err := a.Handover()
		if err != nil {
			http.Error(w, "no handover: "+err.Error(), http.StatusConflict)
			return
		}
		ctlhttp.Write(w, struct {
			PID  int  `json:"pid"`
			Exec bool `json:"exec"`
		}{a.Status().PID, execs})
	})
	if rp, ok := a.(Reporter); ok {
		mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
			var req resultBody
			if !ctlhttp.Decode(w, r, &req, false) {
				return
			}
			if req.Code == "" {
				http.Error(w, "want a JSON result with a code", http.StatusBadRequest)
				return
			}
			if err := rp.Report(r.Context(), selfupdate.Result{Code: req.Code, Source: req.Source, Target: req.Target}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			ctlhttp.Write(w, map[string]bool{"recorded": true})
		})
	}
	if wr, ok := a.(WorkerRestarter); ok {
		mux.HandleFunc("POST /workers/restart", func(w http.ResponseWriter, r *http.Request) {
			restarted, err := wr.RestartWorkers(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			ctlhttp.Write(w, map[string][]string{"restarted": restarted})
		})
	}
	return mux
}

// Dial returns a Core that reaches the agent serving Handler's paths on
// the Unix socket at path. Its Report and RestartWorkers return an error
// that is errors.ErrUnsupported when the agent does not serve them.
func Dial(path string) Core {
	// One connection per request: a core execs or exits under it.
	return &socketCore{path: path, client: ctlhttp.Client(path, false)}
}

type socketCore struct {
	path   string
	client *http.Client
}

func (c *socketCore) call(ctx context.Context, method, path string, body, out any) error {
	err := ctlhttp.Call(ctx, c.client, method, path, body, out)
	var ne *net.OpError
	var se *ctlhttp.StatusError
	switch {
	case errors.As(err, &ne):
		return fmt.Errorf("no core answers on %s: %w", c.path, ne.Err)
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", method, path, errors.ErrUnsupported)
	}
	return err
}

func (c *socketCore) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, "GET", "/status", nil, &st)
	return st, err
}

func (c *socketCore) Handover(ctx context.Context) (bool, error) {
	var r struct {
		Exec bool `json:"exec"`
	}
	err := c.call(ctx, "POST", "/handover", nil, &r)
	return r.Exec, err
}

func (c *socketCore) Report(ctx context.Context, r selfupdate.Result) error {
	return c.call(ctx, "POST", "/result", resultBody{Code: r.Code, Source: r.Source, Target: r.Target}, nil)
}

func (c *socketCore) RestartWorkers(ctx context.Context) ([]string, error) {
	var r struct {
		Restarted []string `json:"restarted"`
	}
	err := c.call(ctx, "POST", "/workers/restart", nil, &r)
	return r.Restarted, err
}
