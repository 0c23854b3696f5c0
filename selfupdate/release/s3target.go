package release

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3API is the part of the S3 client a target uses; *s3.Client implements
// it.
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// S3Target publishes into an S3 bucket under Prefix (s3://Bucket/Prefix/).
// Conditions are S3's conditional writes: IfAbsent is If-None-Match: *,
// IfETag is If-Match, both checked by S3 atomically with the write (S3
// has had them since 2024; gofakes3 honours them too, and the tests race
// two publishers through them). A store that ignored the headers would
// let the later of two racing writes win. Packages are sent with their
// SHA-256 (x-amz-checksum-sha256), which S3 checks against what it
// receives.
type S3Target struct {
	Client S3API
	Bucket string
	// Prefix is the key prefix of the root, without a leading or
	// trailing slash; empty for the bucket's top.
	Prefix string
}

var _ Target = (*S3Target)(nil)

// ParseS3URL splits s3://bucket/prefix into its bucket and prefix.
func ParseS3URL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || strings.ContainsAny(bucket, "{}?#\\ ") {
		return "", "", fmt.Errorf("release: %q is not an s3://bucket/prefix URL", u)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return "", "", fmt.Errorf("release: %q: prefix: %w", u, err)
		}
	}
	return bucket, prefix, nil
}

// String returns s3://Bucket/Prefix/.
func (t *S3Target) String() string {
	if t.Prefix == "" {
		return "s3://" + t.Bucket + "/"
	}
	return "s3://" + t.Bucket + "/" + t.Prefix + "/"
}

// CheckBase refuses an s3:// UriFormat whose Base is not the target's
// root: agents would look for the packages where they are not published.
// Any other scheme's Base is the operator's to serve from the root.
func (t *S3Target) CheckBase(base string) error {
	if strings.HasPrefix(base, "s3://") && base != t.String() {
		return fmt.Errorf("release: the manifest's UriFormat puts packages under %s, but the target is %s: publish to %s", base, t.String(), strings.TrimSuffix(base, "/"))
	}
	return nil
}

func (t *S3Target) key(k string) string {
	if t.Prefix == "" {
		return k
	}
	return t.Prefix + "/" + k
}

// Open gets the object at key.
func (t *S3Target) Open(ctx context.Context, key string) (io.ReadCloser, string, error) {
	out, err := t.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(t.key(key))})
	if err != nil {
		if statusOf(err) == http.StatusNotFound {
			return nil, "", fmt.Errorf("release: %s%s: %w", t, key, fs.ErrNotExist)
		}
		return nil, "", fmt.Errorf("release: get %s%s: %w", t, key, err)
	}
	return out.Body, aws.ToString(out.ETag), nil
}

// Put puts the object at key with S3's conditional headers.
func (t *S3Target) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, sum []byte, c Condition) (string, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(t.key(key)), Body: body, ContentLength: aws.Int64(size)}
	if sum != nil {
		in.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(sum))
	}
	if c.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if c.IfETag != "" {
		in.IfMatch = aws.String(c.IfETag)
	}
	out, err := t.Client.PutObject(ctx, in)
	if err != nil {
		// 412 Precondition Failed; 409 ConditionalRequestConflict when
		// another conditional write to the key was in flight.
		if s := statusOf(err); s == http.StatusPreconditionFailed || s == http.StatusConflict {
			return "", fmt.Errorf("release: put %s%s: %w", t, key, ErrConflict)
		}
		return "", fmt.Errorf("release: put %s%s: %w", t, key, err)
	}
	return aws.ToString(out.ETag), nil
}

// statusOf returns the HTTP status of an SDK error, or 0.
func statusOf(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
		return http.StatusNotFound
	}
	return 0
}
