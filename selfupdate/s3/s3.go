// Package s3 is a selfupdate.Source for s3://bucket/key URLs, through the
// aws-sdk-go-v2 S3 client: for the private buckets of custom
// distributions, with the credentials of the SDK's default chain (or any
// the caller configures).
//
// A Source made by New keeps to selfupdate's URL rule: the endpoint is
// https, or plain http to a loopback host (a local fake or mirror), and
// every redirect the SDK would follow obeys the rule too (see
// selfupdate.HTTPSource).
package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssmkit/ssmkit/internal/httprange"
	"github.com/ssmkit/ssmkit/internal/urlguard"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// GetObjectAPI is the part of the S3 client the source uses; *s3.Client
// implements it.
type GetObjectAPI interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ GetObjectAPI = (*s3.Client)(nil)

// Source opens s3://bucket/key URLs. A Source made by hand uses Client as
// it is: make it with New, or give s3.NewFromConfig the option
// GuardHTTPClient, for the URL rule to apply.
type Source struct {
	Client GetObjectAPI
}

// New returns a Source using an S3 client made from cfg and optFns, whose
// HTTP client is then guarded by GuardHTTPClient. Pass WithRootCAs to
// trust a private endpoint's CA.
func New(cfg aws.Config, optFns ...func(*s3.Options)) *Source {
	opts := append(append([]func(*s3.Options){}, optFns...), GuardHTTPClient)
	return &Source{Client: s3.NewFromConfig(cfg, opts...)}
}

// GuardHTTPClient is an s3.Options function that makes the client keep to
// selfupdate's URL rule (see selfupdate.HTTPSource) at every request and
// redirect. The client's HTTPClient must be an *awshttp.BuildableClient
// (the SDK's default) or an *http.Client; any other fails every request,
// as its redirects cannot be checked.
func GuardHTTPClient(o *s3.Options) {
	c := o.HTTPClient
	if c == nil {
		c = awshttp.NewBuildableClient()
	}
	if bc, ok := c.(*awshttp.BuildableClient); ok {
		c = bc.Freeze() // the SDK's own *http.Client, with its timeouts
	}
	switch hc := c.(type) {
	case *http.Client:
		o.HTTPClient = urlguard.Client(hc)
	case failing:
	default:
		o.HTTPClient = failing{fmt.Errorf("selfupdate/s3: the S3 client's HTTPClient %T cannot be guarded; use an *http.Client or *awshttp.BuildableClient", c)}
	}
}

// WithRootCAs is an s3.Options function that makes the client trust roots
// instead of the system's CAs (to add a private CA to the system's, add it
// to x509.SystemCertPool's pool). The client's HTTPClient must be an
// *awshttp.BuildableClient or an *http.Client whose Transport is nil or an
// *http.Transport; any other fails every request.
func WithRootCAs(roots *x509.CertPool) func(*s3.Options) {
	setRoots := func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			tr.TLSClientConfig = tr.TLSClientConfig.Clone()
		}
		tr.TLSClientConfig.RootCAs = roots
	}
	return func(o *s3.Options) {
		switch c := o.HTTPClient.(type) {
		case nil:
			o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(setRoots)
		case *awshttp.BuildableClient:
			o.HTTPClient = c.WithTransportOptions(setRoots)
		case *http.Client:
			tr, ok := c.Transport.(*http.Transport)
			if c.Transport == nil {
				tr, ok = http.DefaultTransport.(*http.Transport)
			}
			if !ok {
				o.HTTPClient = failing{fmt.Errorf("selfupdate/s3: WithRootCAs needs an *http.Transport, not %T", c.Transport)}
				return
			}
			tr = tr.Clone()
			setRoots(tr)
			cc := *c
			cc.Transport = tr
			o.HTTPClient = &cc
		default:
			o.HTTPClient = failing{fmt.Errorf("selfupdate/s3: WithRootCAs cannot set the CAs of an HTTPClient %T", c)}
		}
	}
}

// failing is an HTTP client that fails every request with err.
type failing struct{ err error }

func (f failing) Do(*http.Request) (*http.Response, error) { return nil, f.err }

var _ selfupdate.Source = (*Source)(nil)

// Open gets the object an s3:// URL names, honouring the request's ETag
// (If-None-Match) and offset (Range). It ignores Request.IfRange: the
// download compares the ETag of what it gets.
func (s *Source) Open(ctx context.Context, rawURL string, req selfupdate.Request) (*selfupdate.Object, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" || len(u.Path) < 2 {
		return nil, fmt.Errorf("selfupdate/s3: %q is not an s3://bucket/key URL", rawURL)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(u.Host), Key: aws.String(strings.TrimPrefix(u.Path, "/"))}
	if req.ETag != "" {
		in.IfNoneMatch = aws.String(req.ETag)
	}
	if req.Offset > 0 {
		in.Range = aws.String("bytes=" + strconv.FormatInt(req.Offset, 10) + "-")
	}
	out, err := s.Client.GetObject(ctx, in)
	if err != nil {
		return nil, openError(rawURL, err)
	}
	obj := &selfupdate.Object{Body: out.Body, Size: -1, ETag: aws.ToString(out.ETag)}
	if out.ContentLength != nil {
		obj.Size = *out.ContentLength
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		start, end, size, ok := httprange.Parse(cr)
		if !ok || start != req.Offset || (out.ContentLength != nil && *out.ContentLength != end-start+1) {
			out.Body.Close()
			return nil, fmt.Errorf("selfupdate/s3: get %s: bad Content-Range %q for offset %d", rawURL, cr, req.Offset)
		}
		obj.Offset, obj.Size = start, size
	}
	return obj, nil
}

// openError turns a GetObject error into the Source's.
func openError(rawURL string, err error) error {
	var ue *urlguard.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("selfupdate/s3: get %s: %w", rawURL, ue)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotModified:
			return selfupdate.ErrNotModified
		case http.StatusNotFound:
			return fmt.Errorf("selfupdate/s3: %s: %w", rawURL, selfupdate.ErrNotFound)
		}
	}
	return fmt.Errorf("selfupdate/s3: get %s: %w", rawURL, err)
}
