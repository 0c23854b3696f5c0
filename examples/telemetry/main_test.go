package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ssmkit/ssmkit/internal/fakecloudwatch"
)

func TestRun(t *testing.T) {
	s := fakecloudwatch.New()
	defer s.Close()
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", s.URL)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	var out bytes.Buffer
	if err := run(context.Background(), &out, []string{"-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SchemaVersion=1", "agent_telemetry amazon-ssm-agent.start 3.3.987.0",
		"sink audit: ok, 3 delivered, 0 pending", "sink cloudwatch-logs: ok, 3 delivered, 0 pending"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if n := len(s.LogEvents("ssmkit-example", "audit")); n != 3 {
		t.Errorf("CloudWatch Logs got %d events", n)
	}
}
