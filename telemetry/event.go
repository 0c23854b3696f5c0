package telemetry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ssmkit/ssmkit/internal/jsonstr"
)

// The pipeline's own events: when it drops events (the spool is full, or
// a sink has been pending past its MaxPendingBytes) it records one event of
// TypeTelemetry and NameDropped, with the attributes AttrSink (the sink's
// name), AttrCount (how many, in decimal) and AttrReason ("spool full" or
// "sink pending"). An agent's own types and names are its own; the SSM
// Agent's are in telemetry/ssm.
const (
	TypeTelemetry = "telemetry"
	NameDropped   = "telemetry.dropped"
	AttrSink      = "sink"
	AttrCount     = "count"
	AttrReason    = "reason"
)

// Limits on events, checked by Record.
const (
	MaxTypeBytes       = 128
	MaxNameBytes       = 1024
	MaxVersionBytes    = 128
	MaxAttributes      = 50
	MaxAttrKeyBytes    = 128
	MaxAttrValueBytes  = 4096
	MaxEventBytes      = 64 << 10 // encoded
	maxEventIDBytes    = 128
	idRandomBytes      = 16
	timeFormatOnTheDay = "15:04:05"
)

// An Event is one audit event.
type Event struct {
	// ID identifies the event, so that a receiver can tell a duplicate
	// (delivery is at least once). Record sets a random one when empty.
	ID string `json:"id"`
	// Time is when it happened; Record sets the current time when zero.
	Time time.Time `json:"time"`
	// Type is the event type, such as the SSM Agent's agent_telemetry;
	// required.
	Type string `json:"type"`
	// Name is the event name, such as amazon-ssm-agent.start or an update
	// result string; required.
	Name string `json:"name"`
	// AgentVersion is the version of the agent that recorded it; Record
	// sets the pipeline's when empty.
	AgentVersion string `json:"agent_version,omitempty"`
	// Attributes are optional string attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// validate reports the first problem with e, naming the field.
func (e *Event) validate() error {
	check := func(field, v string, max int, required bool) error {
		switch {
		case required && v == "":
			return fmt.Errorf("event %s is empty", field)
		case len(v) > max:
			return fmt.Errorf("event %s is %d bytes, the limit is %d", field, len(v), max)
		case !utf8.ValidString(v):
			return fmt.Errorf("event %s is not valid UTF-8", field)
		}
		return nil
	}
	if err := check("ID", e.ID, maxEventIDBytes, true); err != nil {
		return err
	}
	if err := check("Type", e.Type, MaxTypeBytes, true); err != nil {
		return err
	}
	if err := check("Name", e.Name, MaxNameBytes, true); err != nil {
		return err
	}
	if err := check("AgentVersion", e.AgentVersion, MaxVersionBytes, false); err != nil {
		return err
	}
	if len(e.Attributes) > MaxAttributes {
		return fmt.Errorf("event has %d attributes, the limit is %d", len(e.Attributes), MaxAttributes)
	}
	for k, v := range e.Attributes {
		if err := check("attribute key", k, MaxAttrKeyBytes, true); err != nil {
			return err
		}
		if len(v) > MaxAttrValueBytes || !utf8.ValidString(v) {
			return check("attribute "+strconv.Quote(k), v, MaxAttrValueBytes, false)
		}
	}
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("event time %v is outside the years 0–9999", e.Time)
	}
	return nil
}

// newID returns a random event id.
func newID() string {
	var b [idRandomBytes]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encodeEvent returns the spool's encoding of e: the JSON object that
// encoding/json would write (decodeEvent reads it with encoding/json), but
// written directly, for Record is on the hot path.
func encodeEvent(e *Event) ([]byte, error) { return appendEvent(make([]byte, 0, 256), e) }

// appendEvent appends the spool's encoding of e to b.
func appendEvent(b []byte, e *Event) ([]byte, error) {
	start := len(b)
	b = append(b, `{"id":`...)
	b = jsonstr.Append(b, e.ID)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = jsonstr.Append(b, e.Type)
	b = append(b, `,"name":`...)
	b = jsonstr.Append(b, e.Name)
	if e.AgentVersion != "" {
		b = append(b, `,"agent_version":`...)
		b = jsonstr.Append(b, e.AgentVersion)
	}
	if len(e.Attributes) > 0 {
		b = append(b, `,"attributes":`...)
		b = jsonstr.AppendMap(b, e.Attributes)
	}
	b = append(b, '}')
	if n := len(b) - start; n > MaxEventBytes {
		return b[:start], fmt.Errorf("event is %d bytes encoded, the limit is %d", n, MaxEventBytes)
	}
	return b, nil
}

func decodeEvent(b []byte) (Event, error) {
	var e Event
	err := json.Unmarshal(b, &e)
	return e, err
}
