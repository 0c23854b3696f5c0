// Package s3 is a selfupdate.Source for s3://bucket/key URLs, through the
// aws-sdk-go-v2 S3 client: for the private buckets of custom
// distributions, with the credentials of the SDK's default chain (or any
// the caller configures).
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssmkit/ssmkit/selfupdate"
)

// GetObjectAPI is the part of the S3 client the source uses; *s3.Client
// implements it.
type GetObjectAPI interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ GetObjectAPI = (*s3.Client)(nil)

// Source opens s3://bucket/key URLs.
type Source struct {
	Client GetObjectAPI
}

// New returns a Source using an S3 client made from cfg.
func New(cfg aws.Config, optFns ...func(*s3.Options)) *Source {
	return &Source{Client: s3.NewFromConfig(cfg, optFns...)}
}

var _ selfupdate.Source = (*Source)(nil)

// Open gets the object an s3:// URL names, honouring the request's ETag
// (If-None-Match) and offset (Range).
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
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			switch re.HTTPStatusCode() {
			case http.StatusNotModified:
				return nil, selfupdate.ErrNotModified
			case http.StatusNotFound:
				return nil, fmt.Errorf("selfupdate/s3: %s: %w", rawURL, selfupdate.ErrNotFound)
			}
		}
		return nil, fmt.Errorf("selfupdate/s3: get %s: %w", rawURL, err)
	}
	obj := &selfupdate.Object{Body: out.Body, Size: -1, ETag: aws.ToString(out.ETag)}
	if out.ContentLength != nil {
		obj.Size = *out.ContentLength
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		start, size, ok := parseContentRange(cr)
		if !ok || start != req.Offset {
			out.Body.Close()
			return nil, fmt.Errorf("selfupdate/s3: get %s: bad Content-Range %q", rawURL, cr)
		}
		obj.Offset, obj.Size = start, size
	}
	return obj, nil
}

// parseContentRange parses "bytes start-end/size".
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	rng, total, found2 := strings.Cut(rest, "/")
	first, _, found3 := strings.Cut(rng, "-")
	if !found || !found2 || !found3 {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	size, err2 := strconv.ParseInt(total, 10, 64)
	return start, size, err1 == nil && err2 == nil
}
