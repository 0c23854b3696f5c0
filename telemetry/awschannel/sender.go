// Package awschannel sends the SSM Agent's telemetry messages (built by
// telemetry/ssm's Channel) to an HTTPS endpoint the user configures: a JSON
// POST signed with AWS Signature Version 4. Its Sender is the Channel's
// Sender; 2xx is success, 408, 429 and 5xx are retried, any other status
// refuses the messages for good.
//
// The smallest use:
//
//	cfg, err := config.LoadDefaultConfig(ctx)
//	…
//	sink := &ssm.Channel{Sender: &awschannel.Sender{
//		Endpoint: "https://telemetry.example.com/", Region: cfg.Region, Credentials: cfg.Credentials,
//	}}
//
// Without an Endpoint the sender is not configured and the channel's
// events wait.
package awschannel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// Defaults of Sender.
const (
	// DefaultService is the signing name used when Sender.Service is empty.
	DefaultService = "ssm"
	// DefaultTimeout bounds a request of the default Client.
	DefaultTimeout = 30 * time.Second
)

// Sender POSTs messages as {"Messages":[{"Topic":…,"Payload":{…}},…]} to
// Endpoint, signed with Signature V4 by Credentials for Region and Service.
// An answer of 2xx is success; 408, 429 and 5xx are retried; any other
// status refuses the messages for good. With no Endpoint the sender is not
// configured and messages wait.
type Sender struct {
	// Endpoint is the URL to POST to: https, or http to a loopback address.
	Endpoint string
	// Region and Service scope the signature; Service defaults to "ssm".
	Region, Service string
	// Credentials sign the request; required with an Endpoint.
	Credentials aws.CredentialsProvider
	// Client sends the request; default a client with DefaultTimeout.
	Client *http.Client
	// Now returns the signing time; default time.Now.
	Now func() time.Time
}

var _ ssm.Sender = (*Sender)(nil)

var defaultClient = &http.Client{Timeout: DefaultTimeout}

type body struct {
	Messages []ssm.Message `json:"Messages"`
}

// Send posts the messages.
func (s *Sender) Send(ctx context.Context, msgs []ssm.Message) error {
	if s.Endpoint == "" {
		return fmt.Errorf("aws channel: %w: no endpoint", telemetry.ErrNotConfigured)
	}
	if err := checkEndpoint(s.Endpoint); err != nil {
		return telemetry.Permanent(err)
	}
	if s.Credentials == nil || s.Region == "" {
		return fmt.Errorf("aws channel: %w: credentials or region missing", telemetry.ErrNotConfigured)
	}
	payload, err := json.Marshal(body{Messages: msgs})
	if err != nil {
		return telemetry.Permanent(fmt.Errorf("aws channel: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint, bytes.NewReader(payload))
	if err != nil {
		return telemetry.Permanent(fmt.Errorf("aws channel: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("aws channel: credentials: %w", err)
	}
	sum := sha256.Sum256(payload)
	service, now := s.Service, time.Now
	if service == "" {
		service = DefaultService
	}
	if s.Now != nil {
		now = s.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, s.Region, now()); err != nil {
		return fmt.Errorf("aws channel: sign: %w", err)
	}
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("aws channel: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("aws channel: %s: %s", resp.Status, bytes.TrimSpace(msg))
	default:
		return telemetry.Permanent(fmt.Errorf("aws channel: %s: %s", resp.Status, bytes.TrimSpace(msg)))
	}
}

// checkEndpoint allows https, and http only to a loopback host.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("aws channel: endpoint %q: %w", endpoint, err)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("aws channel: endpoint %s: plain http is allowed only to a loopback host", endpoint)
	}
	return fmt.Errorf("aws channel: endpoint %q: want an https URL", endpoint)
}
