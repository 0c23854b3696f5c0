package cloudwatch

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// The PutMetricData limits.
const (
	maxMetricDatums    = 1000
	maxMetricBytes     = 1_048_576
	metricRequestSlack = 64 << 10 // for the encoding's overhead, which the sink estimates
	maxMetricName      = 255
	maxDimensionValue  = 1024
	// DefaultNamespace is the SSM Agent's TelemetryMetricsNamespace default.
	DefaultNamespace = "amazon-ssm-agent-telemetry"
)

// The fleet-wide update result metric: its name, its dimensions, and the
// values of Outcome.
const (
	AggregateMetricName = "agent_update_result"
	DimTargetVersion    = "TargetVersion"
	DimOutcome          = "Outcome"
	OutcomeSucceeded    = "succeeded"
	OutcomeFailed       = "failed"
)

// UpdateOutcome returns the Outcome of an update result string:
// OutcomeSucceeded for UpdateSucceeded…, OutcomeFailed for UpdateFailed…,
// and "" for any other (such as UpdateInProgress), which is not counted.
func UpdateOutcome(code string) string {
	switch {
	case strings.HasPrefix(code, "UpdateSucceeded"):
		return OutcomeSucceeded
	case strings.HasPrefix(code, "UpdateFailed"):
		return OutcomeFailed
	}
	return ""
}

// MetricsAPI is the part of the CloudWatch client the sink uses;
// *cloudwatch.Client implements it.
type MetricsAPI interface {
	PutMetricData(context.Context, *cloudwatch.PutMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

var _ MetricsAPI = (*cloudwatch.Client)(nil)

// Metrics delivers events as CloudWatch metrics, as the SSM Agent does with
// TelemetryMetricsToCloudWatch: each event is a data point of value 1, unit
// Count, named and dimensioned like SSM's —
//
//   - agent_telemetry (amazon-ssm-agent.start, ssm-agent-worker.start):
//     the event name, with dimensions InstanceId and AgentVersion;
//   - agent_update_result: the result string, with dimensions InstanceId,
//     SourceVersion and TargetVersion, and a second, fleet-wide data point
//     (see below);
//   - any other type: the event name, with InstanceId, AgentVersion and
//     Type —
//
// and, unlike SSM, with the event's own timestamp. Requests keep to
// PutMetricData's limits (1,000 data points, 1 MB, 30 dimensions, names of
// 1 to 255 characters). Events older than 14 days are dropped and counted.
//
// The per-instance data points cannot be summed over a fleet without a
// SEARCH expression (GetMetricData needs every dimension), so each update
// result whose string starts with UpdateSucceeded or UpdateFailed (as
// selfupdate.Result.Code does) and that names its target version is also
// counted in a fleet-wide metric named agent_update_result
// (AggregateMetricName), with only the dimensions TargetVersion and
// Outcome, "succeeded" or "failed" (OutcomeSucceeded, OutcomeFailed): one
// MetricStat per version and outcome then gives a release's results.
type Metrics struct {
	Client MetricsAPI
	// Namespace is the metric namespace; default amazon-ssm-agent-telemetry.
	Namespace string
	// InstanceID is the InstanceId dimension; left out when empty.
	InstanceID string
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

var _ telemetry.Sink = (*Metrics)(nil)

// Name returns "cloudwatch-metrics".
func (m *Metrics) Name() string { return "cloudwatch-metrics" }

// Send puts the longest prefix of events that fits one PutMetricData call.
func (m *Metrics) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	if m.Client == nil {
		return 0, fmt.Errorf("cloudwatch metrics: %w: no client", telemetry.ErrNotConfigured)
	}
	if err := m.Validate(); err != nil {
		return 0, fmt.Errorf("cloudwatch metrics: %w", err)
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	tooOld := func(e telemetry.Event) bool { return e.Time.Before(now.Add(-maxEventAge)) }
	if k := prefixLen(events, tooOld); k > 0 {
		return k, telemetry.Permanent(fmt.Errorf("cloudwatch metrics: %d events older than 14 days", k))
	}
	ns := m.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	data := make([]types.MetricDatum, 0, min(2*len(events), maxMetricDatums))
	size, n := len(ns)+64, 0
	for _, e := range events {
		if tooOld(e) {
			break
		}
		ds := m.datums(e)
		if len(data)+len(ds) > maxMetricDatums {
			break
		}
		for i := range ds {
			size += datumSize(&ds[i])
		}
		if size > maxMetricBytes-metricRequestSlack {
			break
		}
		data = append(data, ds...)
		n++
	}
	_, err := m.Client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: data})
	switch code := errorCode(err); {
	case err == nil:
		return n, nil
	case code == "InvalidParameterValue" || code == "InvalidParameterValueException" ||
		code == "InvalidParameterCombination" || code == "MissingParameter" || code == "SerializationException":
		return n, telemetry.Permanent(fmt.Errorf("cloudwatch metrics: %w", err))
	}
	return 0, fmt.Errorf("cloudwatch metrics: %w", err)
}

// datums maps an event to its data points: its own, and for an update
// result with an outcome and a target, the fleet-wide one.
func (m *Metrics) datums(e telemetry.Event) []types.MetricDatum {
	d := m.datum(e)
	target := e.Attributes[ssm.AttrTargetVersion]
	outcome := UpdateOutcome(e.Name)
	if e.Type != ssm.TypeUpdateResult || outcome == "" || target == "" {
		return []types.MetricDatum{d}
	}
	agg := types.MetricDatum{
		MetricName: aws.String(AggregateMetricName),
		Dimensions: []types.Dimension{
			{Name: aws.String(DimTargetVersion), Value: aws.String(cut(target, maxDimensionValue))},
			{Name: aws.String(DimOutcome), Value: aws.String(outcome)},
		},
		Timestamp: d.Timestamp, Value: aws.Float64(1), Unit: types.StandardUnitCount,
	}
	return []types.MetricDatum{d, agg}
}

// datum maps an event to its own data point.
func (m *Metrics) datum(e telemetry.Event) types.MetricDatum {
	var dims []types.Dimension
	add := func(name, value string) {
		if value != "" {
			dims = append(dims, types.Dimension{Name: aws.String(name), Value: aws.String(cut(value, maxDimensionValue))})
		}
	}
	add("InstanceId", m.InstanceID)
	switch e.Type {
	case ssm.TypeUpdateResult:
		add("SourceVersion", e.Attributes[ssm.AttrSourceVersion])
		add("TargetVersion", e.Attributes[ssm.AttrTargetVersion])
	case ssm.TypeAgentTelemetry:
		add("AgentVersion", e.AgentVersion)
	default:
		add("AgentVersion", e.AgentVersion)
		add("Type", e.Type)
	}
	return types.MetricDatum{
		MetricName: aws.String(cut(e.Name, maxMetricName)),
		Dimensions: dims,
		Timestamp:  aws.Time(e.Time),
		Value:      aws.Float64(1),
		Unit:       types.StandardUnitCount,
	}
}

// datumSize estimates a datum's bytes in a request, generously.
func datumSize(d *types.MetricDatum) int {
	n := len(*d.MetricName) + 96
	for _, dim := range d.Dimensions {
		n += len(*dim.Name) + len(*dim.Value) + 24
	}
	return n
}

// cut shortens s to at most n bytes on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
