package cloudwatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awscloudwatch "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/ssmkit/ssmkit/internal/fakecloudwatch"
	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/cloudwatch"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// fakeAWS is the configuration of the real SDK clients for a fake
// CloudWatch on the loopback address: static fake credentials, and no
// metadata service.
func fakeAWS(s *fakecloudwatch.Server) aws.Config {
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fakesecret", ""),
		// In production the endpoint comes from the SDK's usual sources;
		// leave BaseEndpoint unset.
		BaseEndpoint: aws.String(s.URL),
	}
}

// Events as JSON lines in a CloudWatch Logs stream; the group and stream
// are created when missing.
func ExampleLogs() {
	s := fakecloudwatch.New()
	defer s.Close()
	client := cloudwatchlogs.NewFromConfig(fakeAWS(s))

	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	p, err := telemetry.Open(telemetry.Config{Dir: dir, AgentVersion: "1.2.0", Sinks: []telemetry.SinkConfig{
		{Sink: &cloudwatch.Logs{Client: client, Group: "/myagent/audit", Stream: "host-1", RetentionDays: 30}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	p.Record(ctx, telemetry.Event{ID: "e1", Time: at, Type: "myagent", Name: "start"})
	p.Close(ctx) // delivers what is pending

	for _, e := range s.LogEvents("/myagent/audit", "host-1") {
		var line map[string]any
		json.Unmarshal([]byte(e.Message), &line)
		fmt.Println(line["id"], line["type"], line["name"], line["agent_version"], line["time"] == at.Format(time.RFC3339))
	}
	days, _ := s.Retention("/myagent/audit")
	fmt.Println("retention", days, "days")
	// Output:
	// e1 myagent start 1.2.0 true
	// retention 30 days
}

// Each event is a CloudWatch data point, named and dimensioned like the
// SSM Agent's.
func ExampleMetrics() {
	s := fakecloudwatch.New()
	defer s.Close()
	sink := &cloudwatch.Metrics{Client: awscloudwatch.NewFromConfig(fakeAWS(s)), InstanceID: "i-0123456789abcdef0"}

	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	p, err := telemetry.Open(telemetry.Config{Dir: dir, AgentVersion: "3.3.987.0",
		Sinks: []telemetry.SinkConfig{{Sink: sink}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	p.Record(ctx, telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart})
	p.Close(ctx)

	for _, d := range s.Datums() {
		fmt.Println(d.Namespace, d.MetricName, d.Dimensions["InstanceId"], d.Dimensions["AgentVersion"], d.Value, d.Unit)
	}
	// Output:
	// amazon-ssm-agent-telemetry amazon-ssm-agent.start i-0123456789abcdef0 3.3.987.0 1 Count
}
