package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	s3src "github.com/ssmkit/ssmkit/selfupdate/s3"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

const (
	testBucket  = "releases"
	testPrefix  = "agent"
	testPackage = "amazon-ssm-agent"
	testFile    = "amazon-ssm-agent-linux-amd64.tar.gz"
	testFormat  = "s3://releases/agent/{PackageName}/{PackageVersion}/{FileName}"
	manifestURL = "s3://releases/agent/ssm-agent-manifest.json"
)

// fakeS3URL starts gofakes3 on loopback with the test bucket and returns
// its URL.
func fakeS3URL(t testing.TB) string {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

// s3Client returns the real SDK's client for a loopback endpoint.
func s3Client(t testing.TB, endpoint string) *s3.Client {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return s3ClientFor(endpoint)
}

func s3ClientFor(endpoint string) *s3.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake", ""),
		BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func fakeS3(t testing.TB) *s3.Client { return s3Client(t, fakeS3URL(t)) }

func s3Target(c *s3.Client) *S3Target {
	return &S3Target{Client: c, Bucket: testBucket, Prefix: testPrefix}
}

// testKey returns a signing key and its public half.
func testKey(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	privPEM, _, err := signing.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	return key, key.Public().(ed25519.PublicKey)
}

// writePackage writes a tar.gz holding ssm-agent with content version
// into dir/testFile and returns its path.
func writePackage(t testing.TB, dir, version string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "ssm-agent", Mode: 0o755, Size: int64(len(version)), Typeflag: tar.TypeReg})
	tw.Write([]byte(version))
	tw.Close()
	zw.Close()
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, testFile)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// release adds version v (its package in a directory of its own) to m,
// seals it and returns the sealed pair and the package directory.
func addRelease(t testing.TB, m *manifest.Manifest, key ed25519.PrivateKey, v string, ro *manifest.Rollout) (data, sig []byte, dir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), v)
	path := writePackage(t, dir, v)
	if err := (Add{Package: testPackage, Version: manifest.MustParseVersion(v), Files: []string{path}, DeprecateOlder: true, Rollout: ro}).Apply(m, time.Now()); err != nil {
		t.Fatal(err)
	}
	data, sig, err := Seal(m, key, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return data, sig, dir
}

// agent returns an updater on version current that reads the test
// manifest from S3 and checks its signature with pub.
func agent(t testing.TB, c *s3.Client, pub ed25519.PublicKey, current string) *selfupdate.Updater {
	t.Helper()
	dir := t.TempDir()
	u, err := selfupdate.New(selfupdate.Config{
		ManifestURL: manifestURL, Source: selfupdate.Sources{"s3": &s3src.Source{Client: c}},
		Package: testPackage, Platform: manifest.Platform{Name: "linux", Arch: "amd64"},
		Current: manifest.MustParseVersion(current), PublicKeys: []ed25519.PublicKey{pub},
		InstallDir: filepath.Join(dir, "install"), StateDir: filepath.Join(dir, "state"),
		Restarter: nopService{}, Health: nopService{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type nopService struct{}

func (nopService) Restart(context.Context, string) error { return nil }
func (nopService) Check(context.Context, string) error   { return nil }

// seen returns the ManifestVersion an agent verifies now, or the error.
func seen(t testing.TB, c *s3.Client, pub ed25519.PublicKey) (uint64, error) {
	t.Helper()
	ctx := context.Background()
	tgt := s3Target(c)
	read := func(key string) []byte {
		rc, _, err := tgt.Open(ctx, key)
		if err != nil {
			return nil
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return b
	}
	data, sig := read(DefaultManifestName), read(DefaultManifestName+".sig")
	if _, err := agent(t, c, pub, "1.0.0").Check(ctx); err != nil {
		return 0, err
	}
	f, err := signing.Verify(data, sig, []ed25519.PublicKey{pub})
	if err != nil {
		return 0, errors.New("agent accepted what does not verify")
	}
	return f.ManifestVersion, nil
}

func sha(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
