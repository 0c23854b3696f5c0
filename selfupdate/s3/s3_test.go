package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ssmkit/ssmkit/selfupdate"
)

// fakeS3 starts an S3 server on loopback with a bucket and returns a
// client of the real SDK for it.
func fakeS3(t *testing.T, bucket string) *s3.Client {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake", ""),
		BaseEndpoint: aws.String(srv.URL),
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func put(t *testing.T, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	c := fakeS3(t, "releases")
	put(t, c, "releases", "amazon-ssm-agent/2.0.0/pkg.tar.gz", []byte("0123456789"))
	src := &Source{Client: c}
	ctx := context.Background()

	obj, err := src.Open(ctx, "s3://releases/amazon-ssm-agent/2.0.0/pkg.tar.gz", selfupdate.Request{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "0123456789" || obj.Size != 10 || obj.ETag == "" {
		t.Fatalf("object %q, %+v", b, obj)
	}
	if _, err := src.Open(ctx, "s3://releases/amazon-ssm-agent/2.0.0/pkg.tar.gz", selfupdate.Request{ETag: obj.ETag}); !errors.Is(err, selfupdate.ErrNotModified) {
		t.Errorf("same ETag: %v", err)
	}
	obj, err = src.Open(ctx, "s3://releases/amazon-ssm-agent/2.0.0/pkg.tar.gz", selfupdate.Request{Offset: 6})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "6789" || obj.Offset != 6 || obj.Size != 10 {
		t.Errorf("range: %q, %+v", b, obj)
	}
	if _, err := src.Open(ctx, "s3://releases/missing", selfupdate.Request{}); !errors.Is(err, selfupdate.ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := src.Open(ctx, "https://releases/x", selfupdate.Request{}); err == nil {
		t.Error("opened a non-s3 URL")
	}
}
