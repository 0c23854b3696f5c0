package ssm_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ssmkit/ssmkit/telemetry"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// printSender is a fake Sender: it prints the messages instead of sending
// them to AWS (telemetry/awschannel's Sender does that).
type printSender struct{}

func (printSender) Send(ctx context.Context, msgs []ssm.Message) error {
	for _, m := range msgs {
		fmt.Println(m.Topic, string(m.Payload))
	}
	return nil
}

// The SSM channel counts the starts of each agent version and reports
// each update result, as the SSM Agent does.
func ExampleChannel() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)

	p, err := telemetry.Open(telemetry.Config{Dir: dir, AgentVersion: "3.3.987.0",
		Sinks: []telemetry.SinkConfig{{Sink: &ssm.Channel{Sender: printSender{}}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	p.Record(ctx, telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart})
	p.Record(ctx, telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameWorkerStart})
	p.Record(ctx, telemetry.Event{Type: ssm.TypeUpdateResult, Name: "UpdateSucceeded_SelfUpdate-3.3.987.0",
		Attributes: map[string]string{ssm.AttrSourceVersion: "3.0.151.0", ssm.AttrTargetVersion: "3.3.987.0"}})
	p.Record(ctx, telemetry.Event{Type: "myagent", Name: "not-ssm"}) // not part of SSM's telemetry
	p.Close(ctx)                                                     // delivers what is pending
	// Output:
	// agent_update_result {"SchemaVersion":1,"AgentUpdateResultCode":"UpdateSucceeded_SelfUpdate-3.3.987.0","SourceVersion":"3.0.151.0","TargetVersion":"3.3.987.0"}
	// agent_telemetry {"SchemaVersion":1,"NumberOfAgentReboot":1,"NumberOfSSMWorkerReboot":1,"NumberOfInProcExecuterStart":0,"AgentVersion":"3.3.987.0"}
}

// Without a Sender the channel is pending: nothing is taken, and the
// pipeline keeps the events for when it has one.
func ExampleChannel_pending() {
	ch := &ssm.Channel{}
	n, err := ch.Send(context.Background(), []telemetry.Event{{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart, Time: time.Now()}})
	fmt.Println(n, err)
	// Output:
	// 0 ssm channel: not configured: no sender (endpoint)
}

// Messages builds the SSM Agent's messages from events.
func ExampleMessages() {
	msgs, _ := ssm.Messages([]telemetry.Event{
		{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart, AgentVersion: "3.0.151.0"},
		{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart, AgentVersion: "3.0.151.0"},
	})
	for _, m := range msgs {
		fmt.Println(m.Topic, string(m.Payload))
	}
	// Output:
	// agent_telemetry {"SchemaVersion":1,"NumberOfAgentReboot":2,"NumberOfSSMWorkerReboot":0,"NumberOfInProcExecuterStart":0,"AgentVersion":"3.0.151.0"}
}
