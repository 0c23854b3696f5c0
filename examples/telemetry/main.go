// Command telemetry shows the telemetry package: it records a few audit
// events durably, delivers them to SSM-style audit files and — when the
// standard AWS_ENDPOINT_URL_CLOUDWATCH_LOGS variable names an endpoint — to
// CloudWatch Logs there, then prints the audit file and each sink's status.
//
//	go run ./examples/telemetry [-dir DIR]
//	AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:4566 go run ./examples/telemetry
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/cloudwatch"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("telemetry", flag.ContinueOnError)
	dir := fs.String("dir", "", "where the spool and audit files go (default: a new temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "telemetry-example")
		if err != nil {
			return err
		}
		*dir = d
	}
	audits := filepath.Join(*dir, "audits")
	sinks := []telemetry.SinkConfig{{Sink: &telemetry.AuditFiles{Dir: audits}}}
	if os.Getenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS") != "" {
		// The SDK reads the endpoint, region and credentials from the
		// environment as usual.
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
		if err != nil {
			return err
		}
		sinks = append(sinks, telemetry.SinkConfig{Sink: &cloudwatch.Logs{
			Client: cloudwatchlogs.NewFromConfig(cfg), Group: "ssmkit-example", Stream: "audit", RetentionDays: 7,
		}})
	}
	p, err := telemetry.Open(telemetry.Config{Dir: filepath.Join(*dir, "spool"), AgentVersion: "3.3.987.0", Sinks: sinks})
	if err != nil {
		return err
	}
	for _, name := range []string{ssm.NameAgentStart, ssm.NameWorkerStart} {
		if err := p.Record(ctx, telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: name}); err != nil {
			return err
		}
	}
	err = p.Record(ctx, telemetry.Event{Type: ssm.TypeUpdateResult, Name: "UpdateSucceeded_SelfUpdate-3.3.987.0",
		Attributes: map[string]string{ssm.AttrSourceVersion: "3.0.151.0", ssm.AttrTargetVersion: "3.3.987.0"}})
	if err != nil {
		return err
	}
	// Close delivers what it can in ten seconds; the rest would wait on disk.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(audits, telemetry.DefaultAuditPrefix+"*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s:\n%s", f, b)
	}
	for _, st := range p.Status() {
		fmt.Fprintf(out, "sink %s: %s, %d delivered, %d pending", st.Name, st.State, st.Delivered, st.PendingEvents)
		if st.LastError != "" {
			fmt.Fprintf(out, ", last error: %s", st.LastError)
		}
		fmt.Fprintln(out)
	}
	return nil
}
