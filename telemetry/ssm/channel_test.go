package ssm

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/telemetry"
)

type recordingSender struct {
	mu   sync.Mutex
	msgs []Message
	err  error
}

func (r *recordingSender) Send(ctx context.Context, msgs []Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func TestMessages(t *testing.T) {
	events := []telemetry.Event{
		{Type: TypeAgentTelemetry, Name: NameAgentStart, AgentVersion: "3.0.151.0"},
		{Type: TypeAgentTelemetry, Name: NameWorkerStart, AgentVersion: "3.0.151.0"},
		{Type: TypeAgentTelemetry, Name: NameWorkerStart, AgentVersion: "3.0.151.0"},
		{Type: TypeUpdateResult, Name: "UpdateSucceeded_SelfUpdate-3.3.987.0", AgentVersion: "3.0.151.0",
			Attributes: map[string]string{AttrSourceVersion: "3.0.151.0", AttrTargetVersion: "3.3.987.0"}},
		{Type: TypeAgentTelemetry, Name: NameAgentStart, AgentVersion: "3.3.987.0"},
		{Type: TypeAgentTelemetry, Name: NameInProcExecuterStart, AgentVersion: "3.3.987.0"},
		{Type: "other", Name: "ignored"},
	}
	msgs, err := Messages(events)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`agent_update_result {"SchemaVersion":1,"AgentUpdateResultCode":"UpdateSucceeded_SelfUpdate-3.3.987.0","SourceVersion":"3.0.151.0","TargetVersion":"3.3.987.0"}`,
		`agent_telemetry {"SchemaVersion":1,"NumberOfAgentReboot":1,"NumberOfSSMWorkerReboot":2,"NumberOfInProcExecuterStart":0,"AgentVersion":"3.0.151.0"}`,
		`agent_telemetry {"SchemaVersion":1,"NumberOfAgentReboot":1,"NumberOfSSMWorkerReboot":0,"NumberOfInProcExecuterStart":1,"AgentVersion":"3.3.987.0"}`,
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, m := range msgs {
		if got := m.Topic + " " + string(m.Payload); got != want[i] {
			t.Errorf("message %d:\n%s\nwant\n%s", i, got, want[i])
		}
	}
}

func TestChannel(t *testing.T) {
	ctx := context.Background()
	events := []telemetry.Event{{Type: TypeAgentTelemetry, Name: NameAgentStart, AgentVersion: "1"}}
	// No sender: pending, nothing consumed.
	n, err := (&Channel{}).Send(ctx, events)
	if n != 0 || !errors.Is(err, telemetry.ErrNotConfigured) {
		t.Errorf("without a sender: %d, %v", n, err)
	}
	s := &recordingSender{}
	n, err = (&Channel{Sender: s}).Send(ctx, events)
	if n != 1 || err != nil || len(s.msgs) != 1 {
		t.Errorf("with a sender: %d, %v, %v", n, err, s.msgs)
	}
	s.err = errors.New("503")
	if n, err := (&Channel{Sender: s}).Send(ctx, events); n != 0 || err == nil {
		t.Errorf("failing sender: %d, %v", n, err)
	}
}

func TestChannelPreviousDaysOnly(t *testing.T) {
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	c := &Channel{Sender: &recordingSender{}, PreviousDaysOnly: true, Location: time.UTC, Now: func() time.Time { return now }}
	events := []telemetry.Event{
		{Type: TypeAgentTelemetry, Name: NameAgentStart, Time: now.Add(-30 * time.Hour)},
		{Type: TypeAgentTelemetry, Name: NameAgentStart, Time: now.Add(-16 * time.Hour)},
		{Type: TypeAgentTelemetry, Name: NameAgentStart, Time: now.Add(-14 * time.Hour)}, // today
	}
	n, err := c.Send(context.Background(), events)
	if n != 2 || err != nil {
		t.Errorf("Send = %d, %v; want the two events of previous days", n, err)
	}
	if n, err := c.Send(context.Background(), events[2:]); n != 0 || err != nil {
		t.Errorf("today's events: %d, %v; want none taken", n, err)
	}
	var p TelemetryPayload
	json.Unmarshal(c.Sender.(*recordingSender).msgs[0].Payload, &p)
	if p.NumberOfAgentReboot != 2 {
		t.Errorf("payload %+v", p)
	}
}
