package awschannel

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

var (
	creds = credentials.NewStaticCredentialsProvider("AKIDFAKE", "fakesecret", "")
	at    = time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC)
)

// verify re-signs the received request with the same key and time and
// compares the signatures.
func verify(t *testing.T, r *http.Request, body []byte) {
	t.Helper()
	clone, _ := http.NewRequest(r.Method, "https://"+r.Host+r.URL.String(), strings.NewReader(string(body)))
	clone.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	c, _ := creds.Retrieve(context.Background())
	sum := sha256Hex(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), c, clone, sum, "ssm", "eu-west-1", at); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Header.Get("Authorization"), clone.Header.Get("Authorization"); got != want || !strings.HasPrefix(got, "AWS4-HMAC-SHA256 Credential=AKIDFAKE/20261125/eu-west-1/ssm/aws4_request") {
		t.Errorf("Authorization\n%s\nwant\n%s", got, want)
	}
}

func TestSend(t *testing.T) {
	var got body
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		verify(t, r, b)
		json.Unmarshal(b, &got)
	}))
	defer srv.Close()
	s := &Sender{Endpoint: srv.URL + "/telemetry", Region: "eu-west-1", Credentials: creds, Client: srv.Client(), Now: func() time.Time { return at }}
	msgs, _ := ssm.Messages([]telemetry.Event{{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart, AgentVersion: "3.0.151.0"}})
	if err := s.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || got.Messages[0].Topic != "agent_telemetry" || !strings.Contains(string(got.Messages[0].Payload), `"NumberOfAgentReboot":1`) {
		t.Errorf("server got %+v", got)
	}
}

func TestSendErrors(t *testing.T) {
	status := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", status)
	}))
	defer srv.Close()
	s := &Sender{Endpoint: srv.URL, Region: "us-east-1", Credentials: creds}
	for code, permanent := range map[int]bool{400: true, 403: true, 429: false, 500: false, 503: false} {
		status = code
		err := s.Send(context.Background(), nil)
		if err == nil || telemetry.IsPermanent(err) != permanent {
			t.Errorf("status %d: %v, permanent %v", code, err, telemetry.IsPermanent(err))
		}
	}
	if err := (&Sender{}).Send(context.Background(), nil); !errors.Is(err, telemetry.ErrNotConfigured) {
		t.Errorf("no endpoint: %v", err)
	}
	for _, endpoint := range []string{"http://example.com/x", "ftp://127.0.0.1/", "::bad"} {
		err := (&Sender{Endpoint: endpoint, Region: "r", Credentials: creds}).Send(context.Background(), nil)
		if !telemetry.IsPermanent(err) {
			t.Errorf("endpoint %s: %v", endpoint, err)
		}
	}
}

// The sender with the SSM channel sink in a pipeline: pending without an
// endpoint, delivering once it has one.
func TestWithSSMChannel(t *testing.T) {
	ch := &ssm.Channel{Sender: &Sender{}}
	if _, err := ch.Send(context.Background(), []telemetry.Event{{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart}}); !errors.Is(err, telemetry.ErrNotConfigured) {
		t.Errorf("SSM channel without an endpoint: %v", err)
	}
}
