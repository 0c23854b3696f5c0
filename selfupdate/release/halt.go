package release

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	cw "github.com/ssmkit/ssmkit/telemetry/cloudwatch"
)

// MetricsAPI is the part of the CloudWatch client Results uses;
// *cloudwatch.Client implements it.
type MetricsAPI interface {
	GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

var _ MetricsAPI = (*cloudwatch.Client)(nil)

// Counts are the update results of one version.
type Counts struct {
	Succeeded, Failed int
}

// Total returns Succeeded + Failed.
func (c Counts) Total() int { return c.Succeeded + c.Failed }

// FailureRatio returns Failed / Total, 0 when there are no results.
func (c Counts) FailureRatio() float64 {
	if c.Total() == 0 {
		return 0
	}
	return float64(c.Failed) / float64(c.Total())
}

// A ResultQuery asks for one version's results since a time.
type ResultQuery struct {
	Version string
	Since   time.Time
}

// A ResultSource counts update results; *CloudWatch is one.
type ResultSource interface {
	Counts(ctx context.Context, qs []ResultQuery, until time.Time) ([]Counts, error)
}

// CloudWatch counts update results from the fleet-wide
// agent_update_result metric that telemetry/cloudwatch's Metrics sends
// (dimensions TargetVersion and Outcome), with GetMetricData: two MetricStat
// queries (Sum) per version, one period over the whole time asked, 250
// versions per request.
type CloudWatch struct {
	Client MetricsAPI
	// Namespace is the agents' TelemetryMetricsNamespace; default
	// amazon-ssm-agent-telemetry.
	Namespace string
}

var _ ResultSource = (*CloudWatch)(nil)

// maxResultAge is how far back CloudWatch keeps hourly data (455 days).
const maxResultAge = 455 * 24 * time.Hour

// Counts returns, for each query, the results with a time in [Since,
// until). Queries of one Since share requests.
func (c *CloudWatch) Counts(ctx context.Context, qs []ResultQuery, until time.Time) ([]Counts, error) {
	if c.Client == nil {
		return nil, errors.New("release: CloudWatch.Client is nil")
	}
	out := make([]Counts, len(qs))
	bySince := map[time.Time][]int{}
	var order []time.Time
	for i, q := range qs {
		since := q.Since.UTC()
		if since.Before(until.Add(-maxResultAge)) {
			since = until.Add(-maxResultAge).UTC()
		}
		if !since.Before(until) {
			continue // the rollout has not started: nothing yet
		}
		if _, ok := bySince[since]; !ok {
			order = append(order, since)
		}
		bySince[since] = append(bySince[since], i)
	}
	const perCall = 250 // of GetMetricData's 500 queries, two per version
	for _, since := range order {
		idx := bySince[since]
		for lo := 0; lo < len(idx); lo += perCall {
			if err := c.counts(ctx, qs, idx[lo:min(lo+perCall, len(idx))], since, until, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// counts runs the queries of one request: versions qs[idx] since since.
func (c *CloudWatch) counts(ctx context.Context, qs []ResultQuery, idx []int, since, until time.Time, out []Counts) error {
	ns := c.Namespace
	if ns == "" {
		ns = cw.DefaultNamespace
	}
	// One period over the window, in whole hours (which CloudWatch
	// accepts for data of any age).
	hours := math.Ceil(until.Sub(since).Hours())
	period := int32(max(hours, 1) * 3600)
	queries := make([]types.MetricDataQuery, 0, 2*len(idx))
	for _, i := range idx {
		for _, outcome := range []string{cw.OutcomeSucceeded, cw.OutcomeFailed} {
			queries = append(queries, types.MetricDataQuery{
				Id: aws.String(outcome[:1] + strconv.Itoa(i)),
				MetricStat: &types.MetricStat{
					Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String(cw.AggregateMetricName),
						Dimensions: []types.Dimension{
							{Name: aws.String(cw.DimTargetVersion), Value: aws.String(qs[i].Version)},
							{Name: aws.String(cw.DimOutcome), Value: aws.String(outcome)},
						}},
					Period: aws.Int32(period), Stat: aws.String("Sum"), Unit: types.StandardUnitCount,
				},
			})
		}
	}
	sums, err := c.run(ctx, queries, since, until)
	if err != nil {
		return fmt.Errorf("release: update results from CloudWatch: %w", err)
	}
	for _, i := range idx {
		out[i] = Counts{Succeeded: int(sums["s"+strconv.Itoa(i)]), Failed: int(sums["f"+strconv.Itoa(i)])}
	}
	return nil
}

// run sends one GetMetricData request, following NextToken, and sums the
// values of each query id.
func (c *CloudWatch) run(ctx context.Context, queries []types.MetricDataQuery, since, until time.Time) (map[string]float64, error) {
	sums := map[string]float64{}
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(since), EndTime: aws.Time(until), MetricDataQueries: queries}
	for page := 0; ; page++ {
		res, err := c.Client.GetMetricData(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, r := range res.MetricDataResults {
			for _, v := range r.Values {
				sums[aws.ToString(r.Id)] += v
			}
		}
		if res.NextToken == nil || page >= 100 {
			return sums, nil
		}
		in.NextToken = res.NextToken
	}
}
