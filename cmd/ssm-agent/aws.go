package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/awschannel"
	cw "github.com/ssmkit/ssmkit/telemetry/cloudwatch"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// imdsTimeout bounds every question to the EC2 metadata service.
const imdsTimeout = 2 * time.Second

// awsConfig loads the SDK's configuration (default credential chain and
// region, AWS_ENDPOINT_URL_* endpoints) for a feature that needs AWS. The
// region comes from Agent.Region, else the SDK's sources, else the
// metadata service. It is called only when an enabled feature needs AWS.
func (c *core) awsConfig(ctx context.Context, feature string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if c.cfg.Agent.Region != "" {
		opts = append(opts, config.WithRegion(c.cfg.Agent.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("%s: AWS configuration: %w", feature, err)
	}
	if cfg.Region == "" {
		doc, err := c.identity(ctx, cfg)
		if err != nil {
			return aws.Config{}, fmt.Errorf("%s needs an AWS region: set Agent.Region or AWS_REGION (the metadata service did not answer: %v)", feature, err)
		}
		cfg.Region = doc.Region
	}
	return cfg, nil
}

// identity asks the metadata service for the instance's identity document.
func (c *core) identity(ctx context.Context, cfg aws.Config) (imds.InstanceIdentityDocument, error) {
	ctx, cancel := context.WithTimeout(ctx, imdsTimeout)
	defer cancel()
	out, err := imds.NewFromConfig(cfg).GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		return imds.InstanceIdentityDocument{}, err
	}
	return out.InstanceIdentityDocument, nil
}

// instanceID returns Telemetry.InstanceId, else the metadata service's, else "".
func (c *core) instanceID(ctx context.Context, cfg aws.Config) string {
	if c.cfg.Telemetry.InstanceId != "" {
		return c.cfg.Telemetry.InstanceId
	}
	doc, err := c.identity(ctx, cfg)
	if err != nil {
		c.log.Warn("no instance id: set Telemetry.InstanceId (the metadata service did not answer)", "err", err)
		return ""
	}
	return doc.InstanceID
}

// startTelemetry opens the pipeline with the sinks the configuration
// enables, and starts delivering.
func (c *core) startTelemetry(ctx context.Context) error {
	a, t := c.cfg.Agent, c.cfg.Telemetry
	sinks := []telemetry.SinkConfig{{Sink: &telemetry.AuditFiles{Dir: filepath.Join(c.g.logDir, "audits"), Keep: a.AuditExpirationDay,
		MaxDayBytes: int64(t.AuditMaxDayMiB) << 20, MaxTotalBytes: int64(t.AuditMaxTotalMiB) << 20}}}
	if a.TelemetryMetricsToSSM {
		ch := &ssm.Channel{}
		if t.Endpoint != "" {
			cfg, err := c.awsConfig(ctx, "the AWS telemetry channel")
			if err != nil {
				return err
			}
			ch.Sender = &awschannel.Sender{Endpoint: t.Endpoint, Region: cfg.Region, Credentials: cfg.Credentials}
		}
		sinks = append(sinks, telemetry.SinkConfig{Sink: ch})
	}
	if a.TelemetryMetricsToCloudWatch || t.CloudWatchLogsGroup != "" {
		cfg, err := c.awsConfig(ctx, "CloudWatch telemetry")
		if err != nil {
			return err
		}
		id := c.instanceID(ctx, cfg)
		if a.TelemetryMetricsToCloudWatch {
			sinks = append(sinks, telemetry.SinkConfig{Sink: &cw.Metrics{Client: cloudwatch.NewFromConfig(cfg), Namespace: a.TelemetryMetricsNamespace, InstanceID: id}})
		}
		if t.CloudWatchLogsGroup != "" {
			stream := id
			if stream == "" {
				stream, _ = os.Hostname()
			}
			sinks = append(sinks, telemetry.SinkConfig{Sink: &cw.Logs{Client: cloudwatchlogs.NewFromConfig(cfg), Group: t.CloudWatchLogsGroup,
				Stream: stream, RetentionDays: int32(t.CloudWatchLogsRetentionDays)}})
		}
	}
	c.openTelemetry(ctx, telemetry.Config{
		Dir: filepath.Join(c.g.dataDir, "telemetry"), AgentVersion: version, Sinks: sinks,
		OnError: func(sink string, err error) {
			switch {
			case sink == "" && err == nil:
				c.log.Info("telemetry spool records again")
			case sink == "":
				c.log.Warn("telemetry spool degraded: events are not recorded", "err", err)
			case err == nil:
				c.log.Info("telemetry sink delivers again", "sink", sink)
			case errors.Is(err, telemetry.ErrNotConfigured):
				// its state says pending; its events wait
			default:
				c.log.Warn("telemetry sink", "sink", sink, "err", err)
			}
		},
	})
	return nil
}

// telemetryRetry is how often a core whose telemetry could not open tries
// again.
const telemetryRetry = 10 * time.Second

// openTelemetry opens the pipeline and starts delivering. A pipeline that
// cannot open — its directory cannot be made on a full disk, say — is a
// state, not a reason to stop supervising: the core runs without
// telemetry, says why in its status, and tries again until it opens.
func (c *core) openTelemetry(ctx context.Context, cfg telemetry.Config) {
	open := func() bool {
		p, err := telemetry.Open(cfg)
		if err != nil {
			c.telemetryErr.Store(err.Error())
			return false
		}
		c.pipeline.Store(p)
		go p.Serve(ctx)
		return true
	}
	if open() {
		return
	}
	c.log.Error("telemetry is unavailable; retrying", "err", c.telemetryErr.Load(), "every", telemetryRetry)
	c.telemetryRetry.Add(1)
	go func() {
		defer c.telemetryRetry.Done()
		t := time.NewTicker(telemetryRetry)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if open() {
					c.log.Info("telemetry is available again")
					return
				}
			}
		}
	}()
}
