// Package urlguard is the URL rule of selfupdate's sources, shared with
// selfupdate/s3 and the reference agent: https, or plain http to a loopback
// host only, at every hop of a request; and a strict reader of CA
// certificates.
package urlguard

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ErrRefused is wrapped by the error about a URL, or a redirect, that
// breaks the URL rule (see Client); selfupdate exports it as ErrRefused.
var ErrRefused = errors.New("URL refused")

// A Error is a URL or a redirect refused by the URL rule. It wraps
// ErrRefused.
type Error struct {
	URL  string // the URL asked for
	Hop  string // the redirect refused; "" when URL itself was refused
	Rule string // the rule it breaks
}

func (e *Error) Error() string {
	if e.Hop != "" {
		return "redirect to " + e.Hop + " refused: " + e.Rule
	}
	return "refusing " + e.URL + ": " + e.Rule
}

// Unwrap returns ErrRefused.
func (e *Error) Unwrap() error { return ErrRefused }

// MaxRedirects is the most redirects a guarded client follows for one
// request.
const MaxRedirects = 10

// Rules of URLs, as Error.Rule says them.
const (
	rulePlainHTTP = "plain http is allowed only to a loopback host"
	ruleDowngrade = "https must not be downgraded to plain http"
)

// Check returns a *Error unless u is https, or plain http to a
// loopback host (localhost, 127.0.0.0/8, ::1).
func Check(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return &Error{URL: u.String(), Rule: rulePlainHTTP + "; use https"}
	}
	return &Error{URL: u.String(), Rule: fmt.Sprintf("scheme %q is not https", u.Scheme)}
}

// Client returns a copy of c that keeps to the URL rule at every hop
// of a request: each URL is https, or plain http to a loopback host; a
// redirect goes to plain http only from plain http (so https is never
// downgraded, even to loopback); at most MaxRedirects redirects are
// followed. A redirect that breaks the rule is refused before it is
// dialled, with a *Error naming the hop and the rule; c's own
// CheckRedirect, if any, is asked after the rule. A nil Transport means
// http.DefaultTransport.
func Client(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cc.Transport = guardedTransport{rt}
	return &cc
}

// checkRedirect is the URL rule for a redirect to req after via.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first, prev := via[0].URL, via[len(via)-1].URL
	refuse := func(rule string) error {
		return &Error{URL: first.String(), Hop: req.URL.String(), Rule: rule}
	}
	if len(via) > MaxRedirects {
		return refuse(fmt.Sprintf("more than %d redirects", MaxRedirects))
	}
	switch next := req.URL; {
	case next.Scheme == "https":
		return nil
	case next.Scheme != "http":
		return refuse(fmt.Sprintf("scheme %q is not https", next.Scheme))
	case !isLoopback(next.Hostname()):
		return refuse(rulePlainHTTP)
	case prev.Scheme != "http":
		return refuse(ruleDowngrade)
	}
	return nil
}

// guardedTransport checks every request's URL before it is sent: the
// first of a chain, which no CheckRedirect sees, and every hop again.
type guardedTransport struct{ rt http.RoundTripper }

func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := Check(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.rt.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of the wrapped
// transport.
func (t guardedTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CertPool returns the system's trusted CAs (x509.SystemCertPool) with the
// certificates of pems added: each is a PEM text of one or more
// CERTIFICATE blocks (text between blocks is ignored). A text without a
// certificate, a block of another type or a certificate that does not
// parse is an error naming the text by its position, from 1.
func CertPool(pems ...[]byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil, fmt.Errorf("system CA certificates: %w", err)
	}
	for i, text := range pems {
		certs, err := parseCerts(text)
		if err != nil {
			return nil, fmt.Errorf("CA certificates %d of %d: %w", i+1, len(pems), err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// parseCerts parses the CERTIFICATE blocks of a PEM text.
func parseCerts(text []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		b, text = pem.Decode(text)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}
