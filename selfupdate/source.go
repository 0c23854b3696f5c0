package selfupdate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssmkit/ssmkit/internal/httprange"
	"github.com/ssmkit/ssmkit/internal/urlguard"
)

// ErrNotModified is returned by a Source when the object still has the
// ETag the caller gave.
var ErrNotModified = errors.New("not modified")

// ErrNotFound is wrapped by a Source's error for an object that is not there.
var ErrNotFound = errors.New("not found")

// A Source fetches manifests, signatures and packages by URL.
type Source interface {
	// Open returns the object at url. With req.ETag set and the object
	// unchanged it returns ErrNotModified. With req.Offset > 0 it asks for
	// the bytes from there on; Object.Offset says where the body really
	// starts (0 when the source sent the whole object).
	Open(ctx context.Context, url string, req Request) (*Object, error)
}

// A Request qualifies a Source.Open.
type Request struct {
	// ETag, when set, asks for the object only if it no longer has this
	// ETag (If-None-Match).
	ETag string
	// Offset asks for the bytes from there on (Range).
	Offset int64
	// IfRange, with Offset, is the ETag of the object the earlier bytes
	// came from: an HTTP source sends the rest only if the object still
	// has it, and the whole object otherwise (If-Range). A source may
	// ignore it: the download compares the ETag it gets and starts over
	// on a mismatch.
	IfRange string
}

// An Object is an open object of a Source.
type Object struct {
	Body io.ReadCloser
	// Size is the size of the whole object, or -1 if unknown.
	Size int64
	// Offset is where Body starts in the object.
	Offset int64
	ETag   string
}

// Sources dispatches by URL scheme to the sources it holds. The zero value
// knows none; NewSources makes the built-in ones.
type Sources map[string]Source

// NewSources returns the built-in sources: https://, http:// to a loopback
// host only, and file://. The https source trusts rootCAs, or the system's
// CAs when it is nil (x509.SystemCertPool, which honours SSL_CERT_FILE and
// SSL_CERT_DIR): to trust a private mirror's CA as well, add it to the
// system's pool. Add "s3" with selfupdate/s3.
func NewSources(rootCAs *x509.CertPool) Sources {
	h := &HTTPSource{RootCAs: rootCAs}
	return Sources{"https": h, "http": h, "file": FileSource{}}
}

// Open opens url with the source for its scheme.
func (s Sources) Open(ctx context.Context, rawURL string, req Request) (*Object, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("selfupdate: URL %q: %w", rawURL, err)
	}
	src, ok := s[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("selfupdate: URL %s: no source for scheme %q", rawURL, u.Scheme)
	}
	return src.Open(ctx, rawURL, req)
}

// HTTPSource fetches over HTTPS; plain HTTP is allowed only to a loopback
// host (for tests and local mirrors). Redirects are followed only when
// they keep to that rule — and never from https to plain http, nor more
// than 10 — and a redirect that breaks it is refused before it is dialled,
// with an error that wraps ErrURLRefused and names the hop and the rule.
// The zero value is ready to use; do not change the fields after the
// first Open.
type HTTPSource struct {
	// Client makes the requests; default a client with no overall timeout
	// (the caller's context bounds each download). It is used through a
	// guarded copy, so the URL rule applies to it too; its own
	// CheckRedirect, if any, is asked after the rule.
	Client *http.Client
	// RootCAs, when set, are the CAs trusted instead of the system's. They need Client's Transport to be nil or an
	// *http.Transport, which is cloned; Open fails otherwise.
	RootCAs *x509.CertPool

	once   sync.Once
	client *http.Client
	err    error
}

// httpClient returns the guarded client, built once.
func (h *HTTPSource) httpClient() (*http.Client, error) {
	h.once.Do(func() {
		c := h.Client
		if c == nil {
			c = &http.Client{}
		}
		if h.RootCAs != nil {
			tr, err := transportWithRoots(c.Transport, h.RootCAs)
			if err != nil {
				h.err = err
				return
			}
			cc := *c
			cc.Transport = tr
			c = &cc
		}
		h.client = urlguard.Client(c)
	})
	return h.client, h.err
}

// transportWithRoots returns a clone of rt (nil meaning
// http.DefaultTransport) that trusts roots.
func transportWithRoots(rt http.RoundTripper, roots *x509.CertPool) (*http.Transport, error) {
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("selfupdate: HTTPSource.RootCAs needs Client.Transport to be an *http.Transport, not %T", rt)
	}
	t = t.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.RootCAs = roots
	return t, nil
}

// Open fetches url.
func (h *HTTPSource) Open(ctx context.Context, rawURL string, req Request) (*Object, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("selfupdate: URL %q: %w", rawURL, err)
	}
	if err := urlguard.Check(u); err != nil {
		return nil, fmt.Errorf("selfupdate: %w", err)
	}
	client, err := h.httpClient()
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("selfupdate: %w", err)
	}
	if req.ETag != "" {
		r.Header.Set("If-None-Match", req.ETag)
	}
	if req.Offset > 0 {
		r.Header.Set("Range", "bytes="+strconv.FormatInt(req.Offset, 10)+"-")
		if req.IfRange != "" && !strings.HasPrefix(req.IfRange, "W/") {
			r.Header.Set("If-Range", req.IfRange)
		}
	}
	resp, err := client.Do(r)
	if err != nil {
		var ue *urlguard.Error
		if errors.As(err, &ue) { // name the first URL, not the hop's
			return nil, fmt.Errorf("selfupdate: GET %s: %w", rawURL, ue)
		}
		return nil, fmt.Errorf("selfupdate: GET %s: %w", rawURL, err)
	}
	return httpObject(resp, rawURL, req)
}

// httpObject turns a response into an Object or an error.
func httpObject(resp *http.Response, rawURL string, req Request) (*Object, error) {
	obj := &Object{Body: resp.Body, Size: -1, ETag: resp.Header.Get("ETag")}
	switch resp.StatusCode {
	case http.StatusOK:
		obj.Size = resp.ContentLength
		return obj, nil
	case http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		start, end, size, ok := httprange.Parse(cr)
		if !ok || start != req.Offset || (resp.ContentLength >= 0 && resp.ContentLength != end-start+1) {
			resp.Body.Close()
			return nil, fmt.Errorf("selfupdate: GET %s: bad Content-Range %q for offset %d and %d bytes", rawURL, cr, req.Offset, resp.ContentLength)
		}
		obj.Offset, obj.Size = start, size
		return obj, nil
	case http.StatusNotModified:
		resp.Body.Close()
		return nil, ErrNotModified
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("selfupdate: GET %s: %w (404)", rawURL, ErrNotFound)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	resp.Body.Close()
	if resp.StatusCode/100 == 3 {
		return nil, fmt.Errorf("selfupdate: GET %s: %s not followed (Location %q)", rawURL, resp.Status, resp.Header.Get("Location"))
	}
	return nil, fmt.Errorf("selfupdate: GET %s: %s: %s", rawURL, resp.Status, strings.TrimSpace(string(msg)))
}

// FileSource reads file:// URLs, for manifests and packages on local disk
// or a mounted share. ETags are the file's size and modification time.
type FileSource struct{}

// Open opens the file a file:// URL names.
func (FileSource) Open(ctx context.Context, rawURL string, req Request) (*Object, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "file" {
		return nil, fmt.Errorf("selfupdate: %q is not a file URL", rawURL)
	}
	path := u.Path
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("selfupdate: file URL %s: remote host %q", rawURL, u.Host)
	}
	// Non-blocking, so that a FIFO there cannot hold an update forever.
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("selfupdate: %s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("selfupdate: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("selfupdate: %w", err)
	}
	etag := `"` + strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10) + `"`
	if req.ETag != "" && req.ETag == etag {
		f.Close()
		return nil, ErrNotModified
	}
	obj := &Object{Body: f, Size: fi.Size(), ETag: etag}
	if req.Offset > 0 && req.Offset <= fi.Size() {
		if _, err := f.Seek(req.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("selfupdate: %w", err)
		}
		obj.Offset = req.Offset
	}
	return obj, nil
}

// readAll reads a small object (a manifest or signature) in full, refusing
// more than limit bytes, within timeout.
func readAll(ctx context.Context, src Source, rawURL string, req Request, limit int64, timeout time.Duration) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	obj, err := src.Open(ctx, rawURL, req)
	if err != nil {
		return nil, "", err
	}
	defer obj.Body.Close()
	if obj.Size > limit {
		return nil, "", fmt.Errorf("selfupdate: %s is %d bytes, the limit is %d", rawURL, obj.Size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(obj.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("selfupdate: read %s: %w", rawURL, err)
	}
	if int64(len(b)) > limit {
		return nil, "", fmt.Errorf("selfupdate: %s is over the limit of %d bytes", rawURL, limit)
	}
	return b, obj.ETag, nil
}

// ErrURLRefused is wrapped by the error about a URL, or a redirect, that
// breaks the URL rule (see HTTPSource).
var ErrURLRefused = urlguard.ErrRefused

// checkPackageURL says whether a package URL that a manifest names may be
// fetched: https, or plain http to a loopback host, from any manifest (the
// rule of every URL and redirect); file:// only from a file:// manifest
// and s3:// only from an s3:// one, so that a manifest from the network
// cannot send the updater to local files or another bucket's credentials.
func checkPackageURL(manifestURL, pkgURL string) error {
	pu, err := url.Parse(pkgURL)
	if err != nil {
		return fmt.Errorf("selfupdate: package URL %q: %w", pkgURL, err)
	}
	mu, err := url.Parse(manifestURL)
	if err != nil {
		return fmt.Errorf("selfupdate: manifest URL %q: %w", manifestURL, err)
	}
	switch pu.Scheme {
	case "https", "http":
		if err := urlguard.Check(pu); err != nil {
			return fmt.Errorf("selfupdate: package URL %s from manifest %s: %w", pkgURL, manifestURL, err)
		}
		return nil
	case "file", "s3":
		if mu.Scheme == pu.Scheme {
			return nil
		}
		return fmt.Errorf("selfupdate: package URL %s from manifest %s refused: %s URLs are taken only from a %s:// manifest",
			pkgURL, manifestURL, pu.Scheme, pu.Scheme)
	}
	return fmt.Errorf("selfupdate: package URL %s from manifest %s refused: scheme %q is not https", pkgURL, manifestURL, pu.Scheme)
}
