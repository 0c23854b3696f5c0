package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ssmkit/ssmkit/internal/testca"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ssmkit/ssmkit/selfupdate"
)

// dials records the addresses a transport dials, and refuses any that is
// not loopback, so that no test reaches the network.
type dials struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dials) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test dialer: refusing to dial %s", addr)
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (d *dials) offLoopback() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var off []string
	for _, a := range d.addrs {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" {
			off = append(off, a)
		}
	}
	return off
}

// withDials makes the client's transport dial through d; it runs after
// the SDK has set up its own client, as a caller's option does.
func withDials(d *dials) func(*s3.Options) {
	return func(o *s3.Options) {
		switch c := o.HTTPClient.(type) {
		case *awshttp.BuildableClient:
			o.HTTPClient = c.WithTransportOptions(func(tr *http.Transport) { tr.DialContext = d.dial })
		default:
			o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: d.dial}}
		}
	}
}

// redirectingS3 is a fake S3 on loopback whose objects under redirect/
// answer a 307 to redirects[key]. It returns the server and a backend
// handler to serve elsewhere too.
func redirectingS3(t *testing.T, tlsCA *testca.CA, redirects map[string]string) (*httptest.Server, http.Handler) {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	backend := s3mem.New()
	if err := backend.CreateBucket("releases"); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.PutObject("releases", "pkg", nil, strings.NewReader("package"), 7, nil); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend).Server()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to, ok := redirects[strings.TrimPrefix(r.URL.Path, "/releases/")]; ok {
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
			return
		}
		fake.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if tlsCA != nil {
		srv = tlsCA.Server(t, h)
	} else {
		srv = httptest.NewServer(h)
		t.Cleanup(srv.Close)
	}
	return srv, fake
}

func fakeConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

func pathStyle(o *s3.Options) { o.UsePathStyle = true }

func TestRedirectRule(t *testing.T) {
	other := httptest.NewServer(nil)
	t.Cleanup(other.Close)
	srv, fake := redirectingS3(t, nil, map[string]string{
		"redirect/away":     "http://10.1.2.3/releases/pkg",
		"redirect/loopback": other.URL + "/releases/pkg",
		"redirect/loop":     "/releases/redirect/loop",
	})
	other.Config.Handler = fake
	for _, client := range []string{"the SDK's", "an http.Client"} {
		t.Run(client, func(t *testing.T) {
			var d dials
			opts := []func(*s3.Options){pathStyle, withDials(&d)}
			cfg := fakeConfig(srv.URL)
			if client == "an http.Client" {
				cfg.HTTPClient = &http.Client{}
			}
			src := New(cfg, opts...)
			ctx := context.Background()
			_, err := src.Open(ctx, "s3://releases/redirect/away", selfupdate.Request{})
			want := "selfupdate/s3: get s3://releases/redirect/away: redirect to http://10.1.2.3/releases/pkg refused: plain http is allowed only to a loopback host"
			if err == nil || err.Error() != want || !errors.Is(err, selfupdate.ErrURLRefused) {
				t.Errorf("Open = %v\nwant %s", err, want)
			}
			_, err = src.Open(ctx, "s3://releases/redirect/loop", selfupdate.Request{})
			if !errors.Is(err, selfupdate.ErrURLRefused) || !strings.Contains(err.Error(), "more than 10 redirects") {
				t.Errorf("a redirect loop: %v", err)
			}
			obj, err := src.Open(ctx, "s3://releases/redirect/loopback", selfupdate.Request{})
			if err != nil {
				t.Fatalf("loopback http to loopback http: %v", err)
			}
			b, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if string(b) != "package" {
				t.Errorf("body %q", b)
			}
			if off := d.offLoopback(); len(off) != 0 {
				t.Errorf("dialled %v", off)
			}
		})
	}
}

func TestPlainHTTPEndpointRefused(t *testing.T) {
	var d dials
	src := New(fakeConfig("http://10.1.2.3:9000"), pathStyle, withDials(&d))
	_, err := src.Open(context.Background(), "s3://releases/pkg", selfupdate.Request{})
	if !errors.Is(err, selfupdate.ErrURLRefused) || !strings.Contains(err.Error(), "refusing http://10.1.2.3:9000/releases/pkg") {
		t.Errorf("Open = %v", err)
	}
	if off := d.offLoopback(); len(off) != 0 {
		t.Errorf("dialled %v", off)
	}
}

func TestHTTPSEndpoint(t *testing.T) {
	ca := testca.New(t)
	plain := httptest.NewServer(nil)
	t.Cleanup(plain.Close)
	srv, fake := redirectingS3(t, ca, map[string]string{"redirect/plain": plain.URL + "/releases/pkg"})
	plain.Config.Handler = fake
	ctx := context.Background()
	if _, err := New(fakeConfig(srv.URL), pathStyle).Open(ctx, "s3://releases/pkg", selfupdate.Request{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an endpoint of an unknown CA: %v", err)
	}
	pool := ca.Pool()
	for _, client := range []aws.HTTPClient{nil, &http.Client{}} {
		cfg := fakeConfig(srv.URL)
		cfg.HTTPClient = client
		src := New(cfg, pathStyle, WithRootCAs(pool))
		obj, err := src.Open(ctx, "s3://releases/pkg", selfupdate.Request{})
		if err != nil {
			t.Fatalf("with the CA (%T): %v", client, err)
		}
		obj.Body.Close()
		_, err = src.Open(ctx, "s3://releases/redirect/plain", selfupdate.Request{})
		if !errors.Is(err, selfupdate.ErrURLRefused) || !strings.Contains(err.Error(), "https must not be downgraded to plain http") {
			t.Errorf("https to loopback http (%T): %v", client, err)
		}
	}
}

// doer is an HTTP client of a type the guard does not know.
type doer struct{}

func (doer) Do(r *http.Request) (*http.Response, error) { return nil, errors.New("doer was used") }

func TestUnguardableClient(t *testing.T) {
	cfg := fakeConfig("http://127.0.0.1:1")
	cfg.HTTPClient = doer{}
	_, err := New(cfg, pathStyle).Open(context.Background(), "s3://releases/pkg", selfupdate.Request{})
	if err == nil || !strings.Contains(err.Error(), "HTTPClient s3.doer cannot be guarded") {
		t.Errorf("Open = %v", err)
	}
}
