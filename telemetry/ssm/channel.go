package ssm

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ssmkit/ssmkit/telemetry"
)

// A Message is one telemetry message for AWS, as the SSM Agent sends it
// over its control channel: a topic and a JSON payload.
type Message struct {
	// Topic is agent_telemetry or agent_update_result.
	Topic   string          `json:"Topic"`
	Payload json.RawMessage `json:"Payload"`
}

// A Sender delivers messages to AWS. An error marked telemetry.Permanent
// drops them; one wrapping telemetry.ErrNotConfigured keeps them waiting.
type Sender interface {
	Send(ctx context.Context, messages []Message) error
}

// TelemetryPayload is the agent_telemetry message: counts, per agent
// version, of the starts recorded in one batch.
type TelemetryPayload struct {
	SchemaVersion               int
	NumberOfAgentReboot         int
	NumberOfSSMWorkerReboot     int
	NumberOfInProcExecuterStart int
	AgentVersion                string
}

// UpdateResultPayload is the agent_update_result message of one update.
type UpdateResultPayload struct {
	SchemaVersion         int
	AgentUpdateResultCode string
	SourceVersion         string
	TargetVersion         string
}

// Channel is the SSM Agent's audit telemetry to AWS as a telemetry.Sink
// (TelemetryMetricsToSSM): it builds the SSM payloads from the events (see
// Messages) and hands them to Sender in one call. Without a Sender it is
// pending: events wait and nothing is lost.
type Channel struct {
	// Sender delivers the messages; nil means not configured yet.
	Sender Sender
	// PreviousDaysOnly sends only events from days before today (in
	// Location), like the SSM Agent, which reports yesterday's audit file;
	// pair it with a long SinkConfig.FlushInterval (the SSM Agent: 5 hours).
	// By default (false) events are sent as they come.
	PreviousDaysOnly bool
	// Location is the time zone of "today"; default Local.
	Location *time.Location
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

var _ telemetry.Sink = (*Channel)(nil)

// Name returns "ssm".
func (c *Channel) Name() string { return "ssm" }

// Send turns the events into messages and sends them in one call.
func (c *Channel) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	n := len(events)
	if c.PreviousDaysOnly {
		loc, now := c.Location, time.Now
		if loc == nil {
			loc = time.Local
		}
		if c.Now != nil {
			now = c.Now
		}
		y, m, d := now().In(loc).Date()
		today := time.Date(y, m, d, 0, 0, 0, 0, loc)
		for i, e := range events {
			if !e.Time.Before(today) {
				n = i
				break
			}
		}
		if n == 0 {
			return 0, nil // today's events wait for tomorrow
		}
	}
	if c.Sender == nil {
		return 0, fmt.Errorf("ssm channel: %w: no sender (endpoint)", telemetry.ErrNotConfigured)
	}
	msgs, err := Messages(events[:n])
	if err != nil {
		return 0, telemetry.Permanent(fmt.Errorf("ssm channel: %w", err))
	}
	if len(msgs) > 0 {
		if err := c.Sender.Send(ctx, msgs); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Messages builds the SSM Agent's messages from events: one
// agent_telemetry message per agent version with the starts counted, and
// one agent_update_result message per update result. Other events are not
// part of SSM's telemetry and are left out.
func Messages(events []telemetry.Event) ([]Message, error) {
	counts := map[string]*TelemetryPayload{}
	var order []string
	var msgs []Message
	for _, e := range events {
		switch e.Type {
		case TypeAgentTelemetry:
			p := counts[e.AgentVersion]
			if p == nil {
				p = &TelemetryPayload{SchemaVersion: 1, AgentVersion: e.AgentVersion}
				counts[e.AgentVersion] = p
				order = append(order, e.AgentVersion)
			}
			switch e.Name {
			case NameAgentStart:
				p.NumberOfAgentReboot++
			case NameWorkerStart:
				p.NumberOfSSMWorkerReboot++
			case NameInProcExecuterStart:
				p.NumberOfInProcExecuterStart++
			}
		case TypeUpdateResult:
			b, err := json.Marshal(UpdateResultPayload{SchemaVersion: 1, AgentUpdateResultCode: e.Name,
				SourceVersion: e.Attributes[AttrSourceVersion], TargetVersion: e.Attributes[AttrTargetVersion]})
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, Message{Topic: TypeUpdateResult, Payload: b})
		}
	}
	for _, v := range order {
		b, err := json.Marshal(counts[v])
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, Message{Topic: TypeAgentTelemetry, Payload: b})
	}
	return msgs, nil
}
