package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ssmkit/ssmkit/internal/testca"
)

// dialRecorder is a transport that records every address it dials and
// refuses any that is not loopback, so that no test reaches the network.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) transport() *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.mu.Lock()
		d.addrs = append(d.addrs, addr)
		d.mu.Unlock()
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test dialer: refusing to dial %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

func (d *dialRecorder) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// redirector serves /to?u=URL as a 302 to URL, /hops/N as a chain of N
// redirects ending at /m.json, /loop as a redirect to itself, and /m.json.
func redirector(self func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/to":
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/hops/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hops/"))
			next := self() + "/hops/" + strconv.Itoa(n-1)
			if n <= 1 {
				next = self() + "/m.json"
			}
			http.Redirect(w, r, next, http.StatusTemporaryRedirect)
		case r.URL.Path == "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case r.URL.Path == "/m.json":
			io.WriteString(w, "manifest")
		default:
			http.NotFound(w, r)
		}
	})
}

func TestRedirectRule(t *testing.T) {
	ca := testca.New(t)
	var a, b, plain, plain2 *httptest.Server
	a = ca.Server(t, redirector(func() string { return a.URL }))
	b = ca.Server(t, redirector(func() string { return b.URL }))
	plain = httptest.NewServer(redirector(func() string { return plain.URL }))
	t.Cleanup(plain.Close)
	plain2 = httptest.NewServer(redirector(func() string { return plain2.URL }))
	t.Cleanup(plain2.Close)
	to := func(from, target string) string { return from + "/to?u=" + target }
	cases := []struct {
		name, url string
		hop, rule string // the refused hop and rule; "" for success
	}{
		{"https to plain http elsewhere", to(a.URL, "http://mirror.example/m.json"), "http://mirror.example/m.json", "plain http is allowed only to a loopback host"},
		{"https to plain http on loopback", to(a.URL, plain.URL+"/m.json"), plain.URL + "/m.json", "https must not be downgraded to plain http"},
		{"https to another scheme", to(a.URL, "ftp://127.0.0.1/m.json"), "ftp://127.0.0.1/m.json", `scheme "ftp" is not https`},
		{"https to https on another host", to(a.URL, b.URL+"/m.json"), "", ""},
		{"10 redirects", a.URL + "/hops/10", "", ""},
		{"11 redirects", a.URL + "/hops/11", a.URL + "/m.json", "more than 10 redirects"},
		{"a loop", a.URL + "/loop", a.URL + "/loop", "more than 10 redirects"},
		{"plain loopback to plain loopback", to(plain.URL, plain2.URL+"/m.json"), "", ""},
		{"plain loopback to https", to(plain.URL, a.URL+"/m.json"), "", ""},
		{"plain loopback to https to plain loopback", to(plain.URL, to(a.URL, plain2.URL+"/m.json")), plain2.URL + "/m.json", "https must not be downgraded to plain http"},
		{"plain loopback to plain http elsewhere", to(plain.URL, "http://10.9.8.7/m.json"), "http://10.9.8.7/m.json", "plain http is allowed only to a loopback host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d dialRecorder
			// The caller's own client, even one that would follow anything.
			client := &http.Client{Transport: d.transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
			src := &HTTPSource{Client: client, RootCAs: ca.Pool()}
			obj, err := src.Open(context.Background(), c.url, Request{})
			if c.rule == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				body, _ := io.ReadAll(obj.Body)
				obj.Body.Close()
				if string(body) != "manifest" {
					t.Errorf("body %q", body)
				}
				return
			}
			want := "selfupdate: GET " + c.url + ": redirect to " + c.hop + " refused: " + c.rule
			if err == nil || err.Error() != want || !errors.Is(err, ErrURLRefused) {
				t.Fatalf("Open = %v\nwant %s", err, want)
			}
			for _, addr := range d.dialled() {
				if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
					t.Errorf("dialled %s", addr)
				}
			}
		})
	}
}

func TestRedirectRuleDefaultClient(t *testing.T) {
	ca := testca.New(t)
	var a *httptest.Server
	a = ca.Server(t, redirector(func() string { return a.URL }))
	for _, src := range []Source{&HTTPSource{RootCAs: ca.Pool()}, NewSources(ca.Pool())} {
		_, err := src.Open(context.Background(), a.URL+"/to?u=http://mirror.example/m.json", Request{})
		if !errors.Is(err, ErrURLRefused) || !strings.Contains(err.Error(), "redirect to http://mirror.example/m.json refused") {
			t.Errorf("%T: %v", src, err)
		}
		obj, err := src.Open(context.Background(), a.URL+"/hops/3", Request{})
		if err != nil {
			t.Fatalf("%T: %v", src, err)
		}
		obj.Body.Close()
	}
}

func TestRootCAs(t *testing.T) {
	ca := testca.New(t)
	srv := ca.Server(t, redirector(nil))
	url := srv.URL + "/m.json"
	if _, err := (&HTTPSource{}).Open(context.Background(), url, Request{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a server of an unknown CA: %v", err)
	}
	if _, err := NewSources(nil).Open(context.Background(), url, Request{}); err == nil {
		t.Error("NewSources(nil) trusts the test CA")
	}
	pool := ca.Pool()
	for _, src := range []Source{&HTTPSource{RootCAs: pool}, NewSources(pool),
		&HTTPSource{RootCAs: pool, Client: &http.Client{Transport: &http.Transport{}}}} {
		obj, err := src.Open(context.Background(), url, Request{})
		if err != nil {
			t.Fatalf("%T with the CA: %v", src, err)
		}
		obj.Body.Close()
	}
	odd := &HTTPSource{RootCAs: pool, Client: &http.Client{Transport: roundTripFunc(nil)}}
	if _, err := odd.Open(context.Background(), url, Request{}); err == nil || !strings.Contains(err.Error(), "HTTPSource.RootCAs needs Client.Transport to be an *http.Transport") {
		t.Errorf("RootCAs with another RoundTripper: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
