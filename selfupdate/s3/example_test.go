package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ssmkit/ssmkit/selfupdate"
	selfupdates3 "github.com/ssmkit/ssmkit/selfupdate/s3"
)

// An updater's sources with s3:// added, here against an S3 fake on
// loopback (a real bucket needs only the AWS configuration).
func Example() {
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	backend.CreateBucket("releases")
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake", "")}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("releases"),
		Key: aws.String("ssm-agent-manifest.json"), Body: bytes.NewReader([]byte(`{"SchemaVersion": "1.0"}`))})

	sources := selfupdate.NewSources(nil)
	sources["s3"] = selfupdates3.New(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	obj, err := sources.Open(context.Background(), "s3://releases/ssm-agent-manifest.json", selfupdate.Request{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer obj.Body.Close()
	b, _ := io.ReadAll(obj.Body)
	fmt.Println(string(b), obj.Size)
	// Output: {"SchemaVersion": "1.0"} 24
}
