// Package cloudwatch holds the telemetry sinks that deliver to the
// customer's CloudWatch: Logs (PutLogEvents, one JSON line per event, the
// group and stream created when missing) and Metrics (PutMetricData, one
// data point per event, as the SSM Agent does with
// TelemetryMetricsToCloudWatch, and for an update result a second in the
// fleet-wide agent_update_result metric that selfupdate/release reads to
// halt a failing rollout). They use the aws-sdk-go-v2 clients the
// caller configures, keep to the service's limits so that every call can
// succeed, and tell the pipeline which refusals are permanent. This is the
// only telemetry package that imports the AWS SDK's CloudWatch clients.
//
// The smallest use is one sink in a pipeline:
//
//	cfg, err := config.LoadDefaultConfig(ctx)
//	…
//	p, err := telemetry.Open(telemetry.Config{Dir: dir, Sinks: []telemetry.SinkConfig{
//		{Sink: &cloudwatch.Logs{Client: cloudwatchlogs.NewFromConfig(cfg), Group: "/myagent/audit", Stream: hostname}},
//	}})
//
// Without a Client (or a Group and Stream) a sink is not configured: its
// events wait in the pipeline's spool.
package cloudwatch
