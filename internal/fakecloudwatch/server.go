// Package fakecloudwatch is a CloudWatch and CloudWatch Logs endpoint on
// loopback for tests: the real aws-sdk-go-v2 clients talk to it (Logs
// speaks JSON 1.1, metrics Smithy RPCv2 CBOR, gzip-compressed), it records
// what it accepts, enforces the real API limits with the real errors, and
// can be told to throttle or be down. GetMetricData answers MetricStat
// queries over the recorded PutMetricData points (see getmetricdata.go).
package fakecloudwatch

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The limits the service enforces (CloudWatch Logs and PutMetricData).
const (
	MaxLogBatchBytes   = 1_048_576
	LogEventOverhead   = 26
	MaxLogBatchEvents  = 10_000
	MaxLogEventBytes   = 1_048_576 - LogEventOverhead
	MaxLogBatchSpan    = 24 * time.Hour
	MaxLogEventAge     = 14 * 24 * time.Hour
	MaxLogEventFuture  = 2 * time.Hour
	MaxMetricBodyBytes = 1_048_576
	MaxMetricDatums    = 1000
	MaxDimensions      = 30
	MaxMetricValues    = 150
	MaxMetricNameBytes = 255
)

// A LogEvent is one accepted log event.
type LogEvent struct {
	Timestamp int64 // milliseconds since the epoch
	Message   string
}

// A Datum is one accepted metric datum.
type Datum struct {
	Namespace  string
	MetricName string
	Dimensions map[string]string
	Timestamp  time.Time
	Value      float64
	Unit       string
}

// Server is the fake endpoint.
type Server struct {
	URL string
	srv *httptest.Server

	mu        sync.Mutex
	groups    map[string]*logGroup
	datums    []Datum
	calls     map[string]int
	throttle  int  // the next n calls are throttled
	down      bool // every call fails with 503
	rejected  int  // events reported as too old or too new
	bodyBytes map[string]int
	// Now is the service's clock; default time.Now.
	Now func() time.Time
	// DiscardLogEvents, when set before use, checks and counts log events
	// without keeping them, for benchmarks of millions of events.
	DiscardLogEvents bool
	accepted         int
}

type logGroup struct {
	retention int
	streams   map[string][]LogEvent
}

// New starts a server on 127.0.0.1. Close it when done.
func New() *Server {
	s := &Server{groups: map[string]*logGroup{}, calls: map[string]int{}, bodyBytes: map[string]int{}, Now: time.Now}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Config returns an AWS configuration for the real clients to use this
// server: static fake credentials, region us-east-1, this endpoint, and no
// retries in the SDK (callers retry).
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDFAKE", "fakesecret", ""),
		BaseEndpoint:     aws.String(s.URL),
		RetryMaxAttempts: 1,
	}
}

// SetDown makes every call fail with 503 Service Unavailable, or not.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Throttle makes the next n calls fail with ThrottlingException.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	s.throttle = n
	s.mu.Unlock()
}

// Calls returns how many calls of op (such as PutLogEvents) were accepted.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// BodyBytes returns the request bytes of the accepted calls of op, as the
// service counts them (for PutLogEvents: message bytes plus 26 per event).
func (s *Server) BodyBytes(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodyBytes[op]
}

// Accepted returns how many log events were accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Rejected returns how many log events were refused as too old or too new.
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// LogEvents returns the events accepted into a stream, in order.
func (s *Server) LogEvents(group, stream string) []LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[group]; g != nil {
		return append([]LogEvent(nil), g.streams[stream]...)
	}
	return nil
}

// Retention returns a group's retention in days (0 for none) and whether
// the group exists.
func (s *Server) Retention(group string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		return 0, false
	}
	return g.retention, true
}

// Datums returns the accepted metric data, in order.
func (s *Server) Datums() []Datum {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Datum(nil), s.datums...)
}

// apiError is an error the service returns.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{400, code, fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, 16<<20))
		}
		if err != nil {
			http.Error(w, "bad gzip: "+err.Error(), 400)
			return
		}
	}
	cbor := r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor"
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.reply(w, cbor, nil, &apiError{403, "MissingAuthenticationTokenException", "request is not signed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		s.reply(w, cbor, nil, &apiError{503, "ServiceUnavailableException", "the fake is down"})
		return
	}
	if s.throttle > 0 {
		s.throttle--
		s.reply(w, cbor, nil, badRequest("ThrottlingException", "Rate exceeded"))
		return
	}
	var op string
	var out any
	switch {
	case cbor && strings.HasPrefix(r.URL.Path, "/service/GraniteServiceVersion20100801/operation/"):
		op = strings.TrimPrefix(r.URL.Path, "/service/GraniteServiceVersion20100801/operation/")
		switch op {
		case "PutMetricData":
			err = s.putMetricData(body)
		case "GetMetricData":
			out, err = s.getMetricData(body)
		default:
			err = &apiError{400, "UnknownOperationException", op}
		}
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328."):
		op = strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328.")
		out, err = s.logs(op, body)
	default:
		err = &apiError{400, "UnknownOperationException", r.URL.Path}
	}
	if err == nil {
		s.calls[op]++
	}
	s.reply(w, cbor, out, err)
}

func (s *Server) reply(w http.ResponseWriter, cbor bool, out any, err error) {
	if cbor {
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		if err != nil {
			e := asAPIError(err)
			w.WriteHeader(e.status)
			w.Write(encodeCBORMap(map[string]string{"__type": e.code, "message": e.msg}))
			return
		}
		if out == nil {
			out = map[string]any{}
		}
		w.Write(encodeCBOR(nil, out))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		e := asAPIError(err)
		w.Header().Set("X-Amzn-ErrorType", e.code)
		w.WriteHeader(e.status)
		json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
		return
	}
	if out == nil {
		out = struct{}{}
	}
	json.NewEncoder(w).Encode(out)
}

func asAPIError(err error) *apiError {
	if e, ok := err.(*apiError); ok {
		return e
	}
	return &apiError{400, "SerializationException", err.Error()}
}

// logs handles the CloudWatch Logs operations; s.mu is held.
func (s *Server) logs(op string, body []byte) (any, error) {
	var in struct {
		LogGroupName    string
		LogStreamName   string
		RetentionInDays int
		LogEvents       []struct {
			Timestamp *int64
			Message   *string
		}
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	g := s.groups[in.LogGroupName]
	switch op {
	case "CreateLogGroup":
		if g != nil {
			return nil, badRequest("ResourceAlreadyExistsException", "The specified log group already exists")
		}
		s.groups[in.LogGroupName] = &logGroup{streams: map[string][]LogEvent{}}
		return nil, nil
	case "CreateLogStream":
		if g == nil {
			return nil, badRequest("ResourceNotFoundException", "The specified log group does not exist.")
		}
		if _, ok := g.streams[in.LogStreamName]; ok {
			return nil, badRequest("ResourceAlreadyExistsException", "The specified log stream already exists")
		}
		g.streams[in.LogStreamName] = []LogEvent{}
		return nil, nil
	case "PutRetentionPolicy":
		if g == nil {
			return nil, badRequest("ResourceNotFoundException", "The specified log group does not exist.")
		}
		switch in.RetentionInDays {
		case 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653:
		default:
			return nil, badRequest("InvalidParameterException", "1 validation error detected: Value '%d' at 'retentionInDays' failed to satisfy constraint", in.RetentionInDays)
		}
		g.retention = in.RetentionInDays
		return nil, nil
	case "PutLogEvents":
		if g == nil {
			return nil, badRequest("ResourceNotFoundException", "The specified log group does not exist.")
		}
		if _, ok := g.streams[in.LogStreamName]; !ok {
			return nil, badRequest("ResourceNotFoundException", "The specified log stream does not exist.")
		}
		return s.putLogEvents(g, in.LogStreamName, in.LogEvents)
	}
	return nil, &apiError{400, "UnknownOperationException", op}
}

type rejectedInfo struct {
	TooNewLogEventStartIndex *int `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int `json:"tooOldLogEventEndIndex,omitempty"`
}

func (s *Server) putLogEvents(g *logGroup, stream string, events []struct {
	Timestamp *int64
	Message   *string
}) (any, error) {
	if len(events) == 0 {
		return nil, badRequest("InvalidParameterException", "1 validation error detected: Value null at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(events) > MaxLogBatchEvents {
		return nil, badRequest("InvalidParameterException", "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to 10000")
	}
	size := 0
	for i, e := range events {
		if e.Timestamp == nil || e.Message == nil {
			return nil, badRequest("InvalidParameterException", "log event %d lacks a timestamp or message", i)
		}
		if len(*e.Message) > MaxLogEventBytes {
			return nil, badRequest("InvalidParameterException", "Log event too large: %d bytes exceeds limit of %d", len(*e.Message), MaxLogEventBytes)
		}
		if i > 0 && *e.Timestamp < *events[i-1].Timestamp {
			return nil, badRequest("InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
		}
		size += len(*e.Message) + LogEventOverhead
	}
	if size > MaxLogBatchBytes {
		return nil, badRequest("InvalidParameterException", "Upload too large: %d bytes exceeds limit of %d", size, MaxLogBatchBytes)
	}
	if span := time.Duration(*events[len(events)-1].Timestamp-*events[0].Timestamp) * time.Millisecond; span > MaxLogBatchSpan {
		return nil, badRequest("InvalidParameterException", "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	now := s.Now().UnixMilli()
	oldest := now - MaxLogEventAge.Milliseconds()
	if g.retention > 0 {
		oldest = max(oldest, now-int64(g.retention)*24*3600*1000)
	}
	newest := now + MaxLogEventFuture.Milliseconds()
	var info rejectedInfo
	for i, e := range events {
		switch {
		case *e.Timestamp < oldest:
			idx := i
			info.TooOldLogEventEndIndex = &idx
			s.rejected++
		case *e.Timestamp > newest:
			if info.TooNewLogEventStartIndex == nil {
				idx := i
				info.TooNewLogEventStartIndex = &idx
			}
			s.rejected++
		default:
			s.accepted++
			if !s.DiscardLogEvents {
				g.streams[stream] = append(g.streams[stream], LogEvent{*e.Timestamp, *e.Message})
			}
		}
	}
	s.bodyBytes["PutLogEvents"] += size
	out := map[string]any{"nextSequenceToken": "0"}
	if info.TooNewLogEventStartIndex != nil || info.TooOldLogEventEndIndex != nil {
		out["rejectedLogEventsInfo"] = info
	}
	return out, nil
}

// putMetricData checks and records a PutMetricData request; s.mu is held.
func (s *Server) putMetricData(body []byte) error {
	if len(body) > MaxMetricBodyBytes {
		return badRequest("RequestEntityTooLargeException", "Request size %d exceeded %d bytes", len(body), MaxMetricBodyBytes)
	}
	v, err := decodeCBOR(body)
	if err != nil {
		return badRequest("SerializationException", "%v", err)
	}
	in, _ := v.(map[string]any)
	ns, _ := in["Namespace"].(string)
	if ns == "" {
		return badRequest("MissingParameter", "The parameter Namespace is required.")
	}
	data, _ := in["MetricData"].([]any)
	if len(data) == 0 || len(data) > MaxMetricDatums {
		return badRequest("InvalidParameterValue", "The collection MetricData must not be empty and must not have more than %d members; it has %d.", MaxMetricDatums, len(data))
	}
	var accepted []Datum
	for i, raw := range data {
		m, _ := raw.(map[string]any)
		d := Datum{Namespace: ns, Dimensions: map[string]string{}}
		d.MetricName, _ = m["MetricName"].(string)
		if n := len(d.MetricName); n == 0 || n > MaxMetricNameBytes {
			return badRequest("InvalidParameterValue", "The parameter MetricData.member.%d.MetricName must be 1 to 255 characters; it has %d.", i+1, n)
		}
		dims, _ := m["Dimensions"].([]any)
		if len(dims) > MaxDimensions {
			return badRequest("InvalidParameterValue", "The collection MetricData.member.%d.Dimensions must not have more than %d members.", i+1, MaxDimensions)
		}
		for _, rd := range dims {
			dm, _ := rd.(map[string]any)
			name, _ := dm["Name"].(string)
			value, _ := dm["Value"].(string)
			if name == "" || value == "" || len(value) > 1024 {
				return badRequest("InvalidParameterValue", "The dimension %q of MetricData.member.%d must have a name and a value of 1 to 1024 characters.", name, i+1)
			}
			d.Dimensions[name] = value
		}
		if values, _ := m["Values"].([]any); len(values) > MaxMetricValues {
			return badRequest("InvalidParameterValue", "The collection MetricData.member.%d.Values must not have more than %d members.", i+1, MaxMetricValues)
		}
		switch v := m["Value"].(type) {
		case float64:
			d.Value = v
		case uint64:
			d.Value = float64(v)
		case int64:
			d.Value = float64(v)
		}
		if math.IsNaN(d.Value) || math.IsInf(d.Value, 0) {
			return badRequest("InvalidParameterValue", "The value of MetricData.member.%d.Value is not a finite number.", i+1)
		}
		d.Timestamp, _ = m["Timestamp"].(time.Time)
		d.Unit, _ = m["Unit"].(string)
		accepted = append(accepted, d)
	}
	s.datums = append(s.datums, accepted...)
	s.bodyBytes["PutMetricData"] += len(body)
	return nil
}
