package cloudwatch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/ssmkit/ssmkit/telemetry"
)

// The PutLogEvents limits.
const (
	maxLogBatchBytes  = 1_048_576
	logEventOverhead  = 26
	maxLogBatchEvents = 10_000
	maxLogBatchSpan   = 24 * time.Hour
	// MaxLogMessageBytes bounds one event's message; longer messages are cut
	// and end with TruncatedMarker. The service allows 1 MB, older
	// documents 256 KB: the smaller is safe everywhere.
	MaxLogMessageBytes = 256<<10 - logEventOverhead
	// TruncatedMarker ends a message that was cut to fit.
	TruncatedMarker = "…[truncated]"
	maxEventAge     = 14 * 24 * time.Hour
	maxEventFuture  = 2 * time.Hour
)

// LogsAPI is the part of the CloudWatch Logs client the sink uses;
// *cloudwatchlogs.Client implements it.
type LogsAPI interface {
	PutLogEvents(context.Context, *cloudwatchlogs.PutLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
	CreateLogGroup(context.Context, *cloudwatchlogs.CreateLogGroupInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	CreateLogStream(context.Context, *cloudwatchlogs.CreateLogStreamInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutRetentionPolicy(context.Context, *cloudwatchlogs.PutRetentionPolicyInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutRetentionPolicyOutput, error)
}

var _ LogsAPI = (*cloudwatchlogs.Client)(nil)

// Logs delivers each event as one JSON log line — with its id, so that a
// reader can drop the duplicates of at-least-once delivery — to a log
// stream, creating the group and stream when they are missing. Batches fill
// PutLogEvents to its limits: 1,048,576 bytes counting 26 per event, 10,000
// events, 24 hours, in chronological order. Events older than 14 days or
// more than 2 hours ahead, which the service refuses, are dropped and
// counted. No sequence tokens are used.
type Logs struct {
	Client LogsAPI
	// Group and Stream name the destination; required.
	Group, Stream string
	// RetentionDays, when not zero, is set on a group the sink creates:
	// one of the values the service accepts, 1, 3, 5, 7, 14, 30, 60, 90,
	// 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
	// 3288 or 3653. Zero leaves the service's default, never expire.
	RetentionDays int32
	// Now returns the current time; default time.Now.
	Now func() time.Time

	rejected atomic.Int64
}

var _ telemetry.Sink = (*Logs)(nil)

// Name returns "cloudwatch-logs".
func (l *Logs) Name() string { return "cloudwatch-logs" }

// Rejected returns how many events the service or the sink refused as too
// old or too new.
func (l *Logs) Rejected() int64 { return l.rejected.Load() }

// logLine is the JSON written for an event.
type logLine struct {
	ID           string            `json:"id"`
	Time         time.Time         `json:"time"`
	Type         string            `json:"type"`
	Name         string            `json:"name"`
	AgentVersion string            `json:"agent_version,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// Message returns the log message the sink writes for e.
func Message(e telemetry.Event) string {
	b, _ := json.Marshal(logLine{e.ID, e.Time, e.Type, e.Name, e.AgentVersion, e.Attributes})
	if len(b) <= MaxLogMessageBytes {
		return string(b)
	}
	cut := MaxLogMessageBytes - len(TruncatedMarker)
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + TruncatedMarker
}

// Send puts the longest prefix of events that fits one PutLogEvents call.
func (l *Logs) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	if l.Client == nil || l.Group == "" || l.Stream == "" {
		return 0, fmt.Errorf("cloudwatch logs: %w: client, group or stream missing", telemetry.ErrNotConfigured)
	}
	if err := l.Validate(); err != nil {
		return 0, fmt.Errorf("cloudwatch logs: %w", err)
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	outOfRange := func(e telemetry.Event) bool {
		return e.Time.Before(now.Add(-maxEventAge)) || e.Time.After(now.Add(maxEventFuture))
	}
	// Events the service would refuse are dropped, counted, first.
	if k := prefixLen(events, outOfRange); k > 0 {
		l.rejected.Add(int64(k))
		return k, telemetry.Permanent(fmt.Errorf("cloudwatch logs: %d events older than 14 days or more than 2 hours ahead", k))
	}
	batch := make([]types.InputLogEvent, 0, min(len(events), maxLogBatchEvents))
	size := 0
	var first, last time.Time
	for _, e := range events {
		if len(batch) == maxLogBatchEvents || outOfRange(e) {
			break
		}
		msg := Message(e)
		if size+len(msg)+logEventOverhead > maxLogBatchBytes {
			break
		}
		lo, hi := first, last
		if len(batch) == 0 || e.Time.Before(lo) {
			lo = e.Time
		}
		if len(batch) == 0 || e.Time.After(hi) {
			hi = e.Time
		}
		if hi.Sub(lo) > maxLogBatchSpan {
			break
		}
		first, last = lo, hi
		size += len(msg) + logEventOverhead
		batch = append(batch, types.InputLogEvent{Message: aws.String(msg), Timestamp: aws.Int64(e.Time.UnixMilli())})
	}
	n := len(batch)
	// The service wants the events of a call in chronological order.
	slices.SortStableFunc(batch, func(a, b types.InputLogEvent) int { return cmp.Compare(*a.Timestamp, *b.Timestamp) })
	in := &cloudwatchlogs.PutLogEventsInput{LogGroupName: &l.Group, LogStreamName: &l.Stream, LogEvents: batch}
	out, err := l.Client.PutLogEvents(ctx, in)
	if errorCode(err) == "ResourceNotFoundException" {
		if err = l.create(ctx); err == nil {
			out, err = l.Client.PutLogEvents(ctx, in)
		}
	}
	switch code := errorCode(err); {
	case err == nil:
	case code == "DataAlreadyAcceptedException":
		return n, nil
	case code == "InvalidParameterException" || code == "SerializationException":
		return n, telemetry.Permanent(fmt.Errorf("cloudwatch logs: %w", err))
	default:
		return 0, fmt.Errorf("cloudwatch logs: %w", err)
	}
	if info := out.RejectedLogEventsInfo; info != nil {
		var k int32
		if info.TooOldLogEventEndIndex != nil {
			k += *info.TooOldLogEventEndIndex + 1
		}
		if info.ExpiredLogEventEndIndex != nil {
			k += *info.ExpiredLogEventEndIndex + 1
		}
		if info.TooNewLogEventStartIndex != nil {
			k += int32(n) - *info.TooNewLogEventStartIndex
		}
		l.rejected.Add(int64(k))
	}
	return n, nil
}

// create makes the log group (with its retention) and stream; ones that
// exist already are fine.
func (l *Logs) create(ctx context.Context) error {
	_, err := l.Client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &l.Group})
	switch {
	case err == nil && l.RetentionDays > 0:
		_, err = l.Client.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: &l.Group, RetentionInDays: &l.RetentionDays})
		if err != nil {
			return fmt.Errorf("cloudwatch logs: set retention of %s: %w", l.Group, err)
		}
	case err != nil && errorCode(err) != "ResourceAlreadyExistsException":
		return fmt.Errorf("cloudwatch logs: create log group %s: %w", l.Group, err)
	}
	_, err = l.Client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &l.Group, LogStreamName: &l.Stream})
	if err != nil && errorCode(err) != "ResourceAlreadyExistsException" {
		return fmt.Errorf("cloudwatch logs: create log stream %s: %w", l.Stream, err)
	}
	return nil
}

// prefixLen returns how many events from the start satisfy f.
func prefixLen(events []telemetry.Event, f func(telemetry.Event) bool) int {
	for i, e := range events {
		if !f(e) {
			return i
		}
	}
	return len(events)
}

// errorCode returns the service's error code of err, or "".
func errorCode(err error) string {
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
