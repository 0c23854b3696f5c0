package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrNotModified is returned by a Source when the object still has the
// ETag the caller gave.
var ErrNotModified = errors.New("selfupdate: not modified")

// ErrNotFound is wrapped by a Source's error for an object that is not there.
var ErrNotFound = errors.New("selfupdate: not found")

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
	ETag   string
	Offset int64
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
// knows none; DefaultSources knows https (and http to loopback) and file.
type Sources map[string]Source

// DefaultSources returns the built-in sources: https://, http:// to a
// loopback host only, and file://. Add "s3" with selfupdate/s3.
func DefaultSources() Sources {
	h := &HTTPSource{}
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
// host (for tests and local mirrors). The zero value is ready to use.
type HTTPSource struct {
	// Client makes the requests; default a client with no overall timeout
	// (the caller's context bounds each download).
	Client *http.Client
}

// Open fetches url.
func (h *HTTPSource) Open(ctx context.Context, rawURL string, req Request) (*Object, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("selfupdate: URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("selfupdate: refusing %s: plain http is allowed only to a loopback host; use https", rawURL)
		}
	default:
		return nil, fmt.Errorf("selfupdate: URL %s: not http or https", rawURL)
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
	}
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(r)
	if err != nil {
		return nil, fmt.Errorf("selfupdate: GET %s: %w", rawURL, err)
	}
	obj := &Object{Body: resp.Body, Size: -1, ETag: resp.Header.Get("ETag")}
	switch resp.StatusCode {
	case http.StatusOK:
		obj.Size = resp.ContentLength
		return obj, nil
	case http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != req.Offset {
			resp.Body.Close()
			return nil, fmt.Errorf("selfupdate: GET %s: bad Content-Range %q for offset %d", rawURL, resp.Header.Get("Content-Range"), req.Offset)
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
	return nil, fmt.Errorf("selfupdate: GET %s: %s: %s", rawURL, resp.Status, strings.TrimSpace(string(msg)))
}

// parseContentRange parses "bytes start-end/size".
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	size, err2 := strconv.ParseInt(total, 10, 64)
	if total == "*" {
		size, err2 = -1, nil
	}
	return start, size, err1 == nil && err2 == nil && start >= 0
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("selfupdate: %s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("selfupdate: %w", err)
	}
	fi, err := f.Stat()
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
