package cloudwatch

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/ssmkit/ssmkit/internal/fakecloudwatch"
	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
	"github.com/ssmkit/ssmkit/telemetry/telemetrytest"
)

func init() {
	// No test may reach the metadata service or real credentials.
	for k, v := range map[string]string{"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIDFAKE", "AWS_SECRET_ACCESS_KEY": "fake"} {
		if setenv(k, v) != nil {
			panic(k)
		}
	}
}

func fake(t testing.TB) *fakecloudwatch.Server {
	s := fakecloudwatch.New()
	t.Cleanup(s.Close)
	return s
}

func logsSink(s *fakecloudwatch.Server) *Logs {
	return &Logs{Client: cloudwatchlogs.NewFromConfig(s.Config()), Group: "/ssm/audit", Stream: "i-0123"}
}

func metricsSink(s *fakecloudwatch.Server) *Metrics {
	return &Metrics{Client: cloudwatch.NewFromConfig(s.Config()), InstanceID: "i-0123"}
}

func event(i int, at time.Time) telemetry.Event {
	return telemetry.Event{ID: "id-" + strconv.Itoa(i), Time: at, Type: ssm.TypeAgentTelemetry,
		Name: ssm.NameWorkerStart, AgentVersion: "3.3.987.0"}
}

// sendAll sends events through the sink until all are taken.
func sendAll(t testing.TB, s telemetry.Sink, events []telemetry.Event) (calls int) {
	t.Helper()
	for len(events) > 0 {
		n, err := s.Send(context.Background(), events)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		events = events[n:]
		calls++
	}
	return calls
}

func TestLogsCreatesAndDelivers(t *testing.T) {
	s := fake(t)
	sink := logsSink(s)
	sink.RetentionDays = 30
	now := time.Now().Truncate(time.Millisecond)
	e := event(1, now)
	e.Attributes = map[string]string{"k": "v"}
	sendAll(t, sink, []telemetry.Event{e})
	if days, ok := s.Retention("/ssm/audit"); !ok || days != 30 {
		t.Errorf("group retention %d, exists %v", days, ok)
	}
	got := s.LogEvents("/ssm/audit", "i-0123")
	if len(got) != 1 || got[0].Timestamp != now.UnixMilli() {
		t.Fatalf("log events %+v", got)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(got[0].Message), &line); err != nil {
		t.Fatal(err)
	}
	if line["id"] != "id-1" || line["name"] != ssm.NameWorkerStart || line["attributes"].(map[string]any)["k"] != "v" {
		t.Errorf("line %v", line)
	}
}

func TestLogsBatchLimits(t *testing.T) {
	s := fake(t)
	sink := logsSink(s)
	base := time.Now().Add(-time.Hour)
	// 25,000 events: at least three calls for the count alone.
	var events []telemetry.Event
	for i := range 25000 {
		events = append(events, event(i, base.Add(time.Duration(i)*time.Millisecond)))
	}
	calls := sendAll(t, sink, events)
	if got := len(s.LogEvents("/ssm/audit", "i-0123")); got != 25000 {
		t.Fatalf("%d events arrived", got)
	}
	if calls > 4 { // the fake refuses oversized calls, so each one fit
		t.Errorf("%d calls for 25,000 small events", calls)
	}
}

func TestLogsBytesLimit(t *testing.T) {
	s := fake(t)
	sink := logsSink(s)
	now := time.Now()
	var events []telemetry.Event
	for i := range 30 { // 30 events of ~100 KB: about 3 MB
		e := event(i, now)
		e.Attributes = map[string]string{"big": strings.Repeat("x", 4000)}
		for j := range 24 {
			e.Attributes["k"+strconv.Itoa(j)] = strings.Repeat("y", 4000)
		}
		events = append(events, e)
	}
	calls := sendAll(t, sink, events)
	if calls < 3 || len(s.LogEvents("/ssm/audit", "i-0123")) != 30 {
		t.Errorf("%d calls, %d events", calls, len(s.LogEvents("/ssm/audit", "i-0123")))
	}
	if b := s.BodyBytes("PutLogEvents"); b/calls > fakecloudwatch.MaxLogBatchBytes {
		t.Errorf("calls averaged %d bytes", b/calls)
	}
}

func TestLogsOrderAndSpan(t *testing.T) {
	s := fake(t)
	sink := logsSink(s)
	now := time.Now()
	// Out of order within 24 hours, then a jump past 24 hours.
	events := []telemetry.Event{event(0, now.Add(-26*time.Hour)), event(1, now.Add(-28*time.Hour)), event(2, now.Add(-27*time.Hour)),
		event(3, now.Add(-time.Hour))}
	calls := sendAll(t, sink, events)
	got := s.LogEvents("/ssm/audit", "i-0123")
	if calls != 2 || len(got) != 4 {
		t.Fatalf("%d calls, %d events", calls, len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Timestamp < got[i-1].Timestamp {
			t.Errorf("events out of order: %v", got)
		}
	}
}

func TestLogsTruncatesOversizedEvent(t *testing.T) {
	s := fake(t)
	sink := logsSink(s)
	e := event(0, time.Now())
	e.Name = strings.Repeat("é", 200000) // 400 KB
	sendAll(t, sink, []telemetry.Event{e})
	got := s.LogEvents("/ssm/audit", "i-0123")
	if len(got) != 1 || !strings.HasSuffix(got[0].Message, TruncatedMarker) || len(got[0].Message) > MaxLogMessageBytes {
		t.Fatalf("%d events; message of %d bytes", len(got), len(got[0].Message))
	}
}

func TestLogsTooOldTooNew(t *testing.T) {
	s := fake(t)
	sink := logsSink(s)
	now := time.Now()
	events := []telemetry.Event{event(0, now.Add(-15*24*time.Hour)), event(1, now.Add(-15*24*time.Hour)), event(2, now), event(3, now.Add(3*time.Hour))}
	n, err := sink.Send(context.Background(), events)
	if n != 2 || !telemetry.IsPermanent(err) {
		t.Fatalf("too old: %d, %v", n, err)
	}
	n, err = sink.Send(context.Background(), events[2:])
	if n != 1 || err != nil {
		t.Fatalf("good one: %d, %v", n, err)
	}
	n, err = sink.Send(context.Background(), events[3:])
	if n != 1 || !telemetry.IsPermanent(err) || sink.Rejected() != 3 {
		t.Fatalf("too new: %d, %v, rejected %d", n, err, sink.Rejected())
	}
	// The service's own verdict is counted too.
	s.Now = func() time.Time { return now.Add(20 * 24 * time.Hour) }
	sink.Send(context.Background(), []telemetry.Event{event(4, now)})
	if s.Rejected() != 1 || sink.Rejected() != 4 {
		t.Errorf("service rejected %d, sink counted %d", s.Rejected(), sink.Rejected())
	}
}

func TestLogsErrors(t *testing.T) {
	s := fake(t)
	sink := logsSink(s)
	events := []telemetry.Event{event(0, time.Now())}
	s.Throttle(1)
	if n, err := sink.Send(context.Background(), events); n != 0 || err == nil || telemetry.IsPermanent(err) || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Errorf("throttled: %d, %v; want a retryable error", n, err)
	}
	s.SetDown(true)
	if _, err := sink.Send(context.Background(), events); err == nil || telemetry.IsPermanent(err) {
		t.Errorf("down: %v; want a retryable error", err)
	}
	s.SetDown(false)
	if n, err := sink.Send(context.Background(), events); n != 1 || err != nil {
		t.Errorf("back: %d, %v", n, err)
	}
	if _, err := (&Logs{}).Send(context.Background(), events); !errors.Is(err, telemetry.ErrNotConfigured) {
		t.Errorf("unconfigured: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	s := fake(t)
	sink := metricsSink(s)
	now := time.Now().Truncate(time.Millisecond)
	events := []telemetry.Event{
		{ID: "1", Time: now, Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart, AgentVersion: "3.0.151.0"},
		{ID: "2", Time: now.Add(time.Second), Type: ssm.TypeUpdateResult, Name: "UpdateSucceeded_SelfUpdate-3.3.987.0",
			Attributes: map[string]string{ssm.AttrSourceVersion: "3.0.151.0", ssm.AttrTargetVersion: "3.3.987.0"}},
		{ID: "3", Time: now, Type: "custom", Name: strings.Repeat("m", 300), AgentVersion: "1"},
	}
	sendAll(t, sink, events)
	got := s.Datums()
	if len(got) != 4 {
		t.Fatalf("%d datums", len(got))
	}
	d := got[0]
	if d.Namespace != DefaultNamespace || d.MetricName != ssm.NameAgentStart || d.Unit != "Count" || d.Value != 1 ||
		d.Timestamp.Sub(now).Abs() > time.Millisecond || d.Dimensions["InstanceId"] != "i-0123" || d.Dimensions["AgentVersion"] != "3.0.151.0" || len(d.Dimensions) != 2 {
		t.Errorf("start datum %+v", d)
	}
	d = got[1]
	if d.MetricName != "UpdateSucceeded_SelfUpdate-3.3.987.0" || d.Dimensions["SourceVersion"] != "3.0.151.0" || d.Dimensions["TargetVersion"] != "3.3.987.0" || len(d.Dimensions) != 3 {
		t.Errorf("update datum %+v", d)
	}
	if d := got[2]; d.MetricName != AggregateMetricName || d.Dimensions[DimTargetVersion] != "3.3.987.0" ||
		d.Dimensions[DimOutcome] != OutcomeSucceeded || len(d.Dimensions) != 2 || d.Value != 1 || !d.Timestamp.Equal(got[1].Timestamp) {
		t.Errorf("aggregate datum %+v", d)
	}
	if d := got[3]; len(d.MetricName) != 255 || d.Dimensions["Type"] != "custom" {
		t.Errorf("custom datum: name of %d, dims %v", len(d.MetricName), d.Dimensions)
	}
}

// Update results count twice toward the 1,000 data points of a request
// (their own and the fleet-wide one); a result without an outcome or a
// target gets no fleet-wide one.
func TestMetricsAggregateLimits(t *testing.T) {
	s := fake(t)
	sink := metricsSink(s)
	now := time.Now()
	var events []telemetry.Event
	for i := range 700 {
		code := "UpdateFailed_SelfUpdate_ErrorInstallFailed-2.0.0"
		if i%2 == 0 {
			code = "UpdateSucceeded_SelfUpdate-2.0.0"
		}
		events = append(events, telemetry.Event{ID: strconv.Itoa(i), Time: now, Type: ssm.TypeUpdateResult, Name: code,
			Attributes: map[string]string{ssm.AttrSourceVersion: "1.0.0", ssm.AttrTargetVersion: "2.0.0"}})
	}
	events = append(events,
		telemetry.Event{ID: "x", Time: now, Type: ssm.TypeUpdateResult, Name: "UpdateInProgress_SelfUpdate-2.0.0",
			Attributes: map[string]string{ssm.AttrTargetVersion: "2.0.0"}},
		telemetry.Event{ID: "y", Time: now, Type: ssm.TypeUpdateResult, Name: "UpdateFailed_SelfUpdate_ErrorDownloadManifest"})
	n, err := sink.Send(context.Background(), events)
	if n != 500 || err != nil {
		t.Fatalf("first Send = %d, %v; want 500 events in 1,000 data points", n, err)
	}
	sendAll(t, sink, events[n:])
	counts := map[string]int{}
	for _, d := range s.Datums() {
		if d.MetricName == AggregateMetricName {
			counts[d.Dimensions[DimTargetVersion]+" "+d.Dimensions[DimOutcome]]++
		}
	}
	if counts["2.0.0 succeeded"] != 350 || counts["2.0.0 failed"] != 350 || len(counts) != 2 || len(s.Datums()) != 1402 {
		t.Errorf("aggregate counts %v of %d datums", counts, len(s.Datums()))
	}
}

func TestMetricsLimits(t *testing.T) {
	s := fake(t)
	sink := metricsSink(s)
	now := time.Now()
	var events []telemetry.Event
	for i := range 2500 {
		events = append(events, event(i, now))
	}
	if calls := sendAll(t, sink, events); calls != 3 {
		t.Errorf("%d calls for 2,500 data points, want 3", calls)
	}
	if len(s.Datums()) != 2500 {
		t.Errorf("%d datums", len(s.Datums()))
	}
	old := []telemetry.Event{event(0, now.Add(-15*24*time.Hour))}
	if n, err := sink.Send(context.Background(), old); n != 1 || !telemetry.IsPermanent(err) {
		t.Errorf("old event: %d, %v", n, err)
	}
	s.Throttle(1)
	if n, err := sink.Send(context.Background(), events[:1]); n != 0 || err == nil || telemetry.IsPermanent(err) {
		t.Errorf("throttled: %d, %v", n, err)
	}
}

func TestConformance(t *testing.T) {
	t.Run("Logs", func(t *testing.T) {
		telemetrytest.TestSink(t, func(t *testing.T) (telemetry.Sink, func() []telemetry.Event) {
			s := fake(t)
			return logsSink(s), func() []telemetry.Event {
				var out []telemetry.Event
				for _, le := range s.LogEvents("/ssm/audit", "i-0123") {
					var l logLine
					json.Unmarshal([]byte(le.Message), &l)
					out = append(out, telemetry.Event{ID: l.ID, Type: l.Type, Name: l.Name})
				}
				return out
			}
		})
	})
	t.Run("Metrics", func(t *testing.T) {
		telemetrytest.TestSink(t, func(t *testing.T) (telemetry.Sink, func() []telemetry.Event) {
			s := fake(t)
			return metricsSink(s), func() []telemetry.Event {
				var out []telemetry.Event
				for _, d := range s.Datums() {
					out = append(out, telemetry.Event{Type: d.Dimensions["Type"], Name: d.MetricName})
				}
				return out
			}
		})
	})
}

// TestValidate: names and values the service would refuse are errors that
// name the field, from Validate, Send and Open; empty names are a sink not
// yet configured.
func TestValidate(t *testing.T) {
	s := fake(t)
	logs := func(group, stream string, days int32) *Logs {
		return &Logs{Client: cloudwatchlogs.NewFromConfig(s.Config()), Group: group, Stream: stream, RetentionDays: days}
	}
	metrics := func(m Metrics) *Metrics { m.Client = cloudwatch.NewFromConfig(s.Config()); return &m }
	for _, tt := range []struct {
		sink interface {
			telemetry.Sink
			Validate() error
		}
		want string
	}{
		{logs("bad group", "s", 0), "Logs.Group"},
		{logs(strings.Repeat("g", 513), "s", 0), "Logs.Group"},
		{logs("g", "a:b", 0), "Logs.Stream"},
		{logs("g", strings.Repeat("s", 513), 0), "Logs.Stream"},
		{logs("g", "s", 2), "Logs.RetentionDays is 2"},
		{logs("g", "s", -1), "Logs.RetentionDays is -1"},
		{metrics(Metrics{Namespace: "AWS/EC2"}), "Metrics.Namespace"},
		{metrics(Metrics{Namespace: strings.Repeat("n", 256)}), "Metrics.Namespace"},
		{metrics(Metrics{InstanceID: "i-\n"}), "Metrics.InstanceID"},
	} {
		if err := tt.sink.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.sink, err, tt.want)
		}
		if _, err := tt.sink.Send(context.Background(), []telemetry.Event{event(1, time.Now())}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Send with %+v = %v, want %q", tt.sink, err, tt.want)
		}
		_, err := telemetry.Open(telemetry.Config{Dir: t.TempDir(), Sinks: []telemetry.SinkConfig{{Sink: tt.sink}}})
		if err == nil || !strings.Contains(err.Error(), "): "+tt.want) {
			t.Errorf("Open with %+v = %v, want %q", tt.sink, err, tt.want)
		}
	}
	for _, ok := range []interface{ Validate() error }{
		&Logs{}, &Logs{Group: "/aws/ssm/Audit_#1", Stream: "i-0123 host.example.com", RetentionDays: 3653}, &Logs{Group: strings.Repeat("g", 512)}, &Metrics{}, &Metrics{Namespace: "myagent/telemetry"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", ok, err)
		}
	}
	if s.Calls("PutLogEvents")+s.Calls("PutMetricData") != 0 {
		t.Error("an invalid sink called the service")
	}
}
