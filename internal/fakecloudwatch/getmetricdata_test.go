package fakecloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
)

func dims(kv ...string) []types.Dimension {
	var out []types.Dimension
	for i := 0; i < len(kv); i += 2 {
		out = append(out, types.Dimension{Name: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func stat(id, name string, period int32, d ...string) types.MetricDataQuery {
	return types.MetricDataQuery{Id: aws.String(id), MetricStat: &types.MetricStat{
		Metric: &types.Metric{Namespace: aws.String("ns"), MetricName: aws.String(name), Dimensions: dims(d...)},
		Period: aws.Int32(period), Stat: aws.String("Sum")}}
}

// The real SDK's GetMetricData reads back sums of what PutMetricData put,
// matching the whole set of dimensions, within [StartTime, EndTime).
func TestGetMetricData(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s := New()
	defer s.Close()
	c := cloudwatch.NewFromConfig(s.Config())
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var data []types.MetricDatum
	for i := range 30 {
		outcome := "succeeded"
		if i%3 == 0 {
			outcome = "failed"
		}
		data = append(data, types.MetricDatum{MetricName: aws.String("r"), Dimensions: dims("V", "2", "O", outcome),
			Timestamp: aws.Time(t0.Add(time.Duration(i) * time.Minute)), Value: aws.Float64(1)})
	}
	data = append(data, types.MetricDatum{MetricName: aws.String("r"), Dimensions: dims("V", "2", "O", "failed", "I", "i-1"),
		Timestamp: aws.Time(t0), Value: aws.Float64(1)})
	if _, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("ns"), MetricData: data}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(time.Hour)),
		MetricDataQueries: []types.MetricDataQuery{stat("ok", "r", 3600, "V", "2", "O", "succeeded"), stat("bad", "r", 3600, "O", "failed", "V", "2"),
			stat("none", "r", 3600, "V", "3", "O", "failed"), stat("split", "r", 600, "V", "2", "O", "failed")}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range out.MetricDataResults {
		got[aws.ToString(r.Id)] = fmt.Sprintf("%v %d %s", r.Values, len(r.Timestamps), r.StatusCode)
	}
	want := map[string]string{"ok": "[20] 1 Complete", "bad": "[10] 1 Complete", "none": "[] 0 Complete", "split": "[3 3 4] 3 Complete"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("results %v, want %v", got, want)
	}
	r := out.MetricDataResults[3]
	if !r.Timestamps[0].Equal(t0.Add(20*time.Minute)) || !r.Timestamps[2].Equal(t0) {
		t.Errorf("split timestamps %v, want newest first from %v", r.Timestamps, t0)
	}
	// Only the window counts.
	out, err = c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0.Add(15 * time.Minute)), EndTime: aws.Time(t0.Add(time.Hour)),
		MetricDataQueries: []types.MetricDataQuery{stat("ok", "r", 3600, "V", "2", "O", "succeeded")}})
	if err != nil || fmt.Sprint(out.MetricDataResults[0].Values) != "[10]" {
		t.Errorf("from minute 15: %v, %v", out, err)
	}
}

// The API's limits are enforced with its errors.
func TestGetMetricDataLimits(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s := New()
	defer s.Close()
	c := cloudwatch.NewFromConfig(s.Config())
	t0 := time.Now().Truncate(time.Minute)
	many := make([]types.MetricDataQuery, 501)
	for i := range many {
		many[i] = stat(fmt.Sprintf("q%d", i), "r", 60)
	}
	expr := types.MetricDataQuery{Id: aws.String("e"), Expression: aws.String("SUM(METRICS())")}
	for _, tc := range []struct {
		name       string
		start, end time.Time
		q          []types.MetricDataQuery
		code, text string
	}{
		{"501 queries", t0, t0.Add(time.Hour), many, "InvalidParameterValue", "500"},
		{"start at end", t0, t0, many[:1], "InvalidParameterValue", "StartTime"},
		{"start after end", t0.Add(time.Hour), t0, many[:1], "InvalidParameterValue", "StartTime"},
		{"upper-case id", t0, t0.Add(time.Hour), []types.MetricDataQuery{stat("Q", "r", 60)}, "ValidationError", "Id"},
		{"id with a dash", t0, t0.Add(time.Hour), []types.MetricDataQuery{stat("a-b", "r", 60)}, "ValidationError", "Id"},
		{"duplicate id", t0, t0.Add(time.Hour), []types.MetricDataQuery{stat("a", "r", 60), stat("a", "r", 60)}, "InvalidParameterValue", "unique"},
		{"period 90", t0, t0.Add(time.Hour), []types.MetricDataQuery{stat("a", "r", 90)}, "InvalidParameterValue", "Period"},
		{"period 0", t0, t0.Add(time.Hour), []types.MetricDataQuery{stat("a", "r", 0)}, "InvalidParameterValue", "Period"},
		{"expression", t0, t0.Add(time.Hour), []types.MetricDataQuery{expr}, "InvalidParameterValue", "Expression"},
	} {
		_, err := c.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(tc.start), EndTime: aws.Time(tc.end), MetricDataQueries: tc.q})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), tc.text) {
			t.Errorf("%s: %v, want %s naming %s", tc.name, err, tc.code, tc.text)
		}
	}
	if s.Calls("GetMetricData") != 0 {
		t.Errorf("%d refused calls counted as accepted", s.Calls("GetMetricData"))
	}
}
