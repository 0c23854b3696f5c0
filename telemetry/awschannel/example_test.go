package awschannel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/awschannel"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// The SSM channel's messages, signed and posted to an endpoint (here a
// test server on the loopback address, with static fake credentials).
func ExampleSender() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		auth, _, _ := strings.Cut(r.Header.Get("Authorization"), ", ")
		fmt.Println(r.Method, r.URL.Path)
		fmt.Println(auth)
		fmt.Println(string(b))
	}))
	defer srv.Close()

	sender := &awschannel.Sender{
		Endpoint:    srv.URL + "/telemetry",
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fakesecret", ""),
		Client:      srv.Client(), // trusts the test server's certificate
		Now:         func() time.Time { return time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC) },
	}
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	p, err := telemetry.Open(telemetry.Config{Dir: dir, AgentVersion: "3.3.987.0",
		Sinks: []telemetry.SinkConfig{{Sink: &ssm.Channel{Sender: sender}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	p.Record(ctx, telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart})
	p.Close(ctx) // delivers what is pending
	fmt.Println(p.Status()[0].Delivered, "delivered")
	// Output:
	// POST /telemetry
	// AWS4-HMAC-SHA256 Credential=AKIDFAKE/20261125/eu-west-1/ssm/aws4_request
	// {"Messages":[{"Topic":"agent_telemetry","Payload":{"SchemaVersion":1,"NumberOfAgentReboot":1,"NumberOfSSMWorkerReboot":0,"NumberOfInProcExecuterStart":0,"AgentVersion":"3.3.987.0"}}]}
	// 1 delivered
}

// Without an Endpoint the sender is not configured, and the channel's
// events wait; plain http is refused except to a loopback address.
func ExampleSender_notConfigured() {
	ctx := context.Background()
	msgs := []ssm.Message{{Topic: ssm.TypeAgentTelemetry, Payload: []byte(`{}`)}}
	fmt.Println((&awschannel.Sender{}).Send(ctx, msgs))
	err := (&awschannel.Sender{Endpoint: "http://telemetry.example.com/"}).Send(ctx, msgs)
	fmt.Println(telemetry.IsPermanent(err), err)
	// Output:
	// aws channel: not configured: no endpoint
	// true aws channel: endpoint http://telemetry.example.com/: plain http is allowed only to a loopback host
}
