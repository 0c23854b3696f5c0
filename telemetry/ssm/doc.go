// Package ssm is the SSM Agent's telemetry vocabulary for the generic
// telemetry pipeline: the event types, names and attributes the SSM Agent
// records (TypeAgentTelemetry with NameAgentStart, TypeUpdateResult with
// AttrSourceVersion and AttrTargetVersion, …), the payloads it sends to AWS
// (TelemetryPayload, UpdateResultPayload) and Channel, a telemetry.Sink that
// builds those payloads and hands them to a Sender, such as
// telemetry/awschannel's. An agent that is not SSM's needs none of it.
//
// The smallest use records an SSM start event and sends SSM's messages:
//
//	p, err := telemetry.Open(telemetry.Config{Dir: dir, Sinks: []telemetry.SinkConfig{
//		{Sink: &ssm.Channel{Sender: &awschannel.Sender{Endpoint: url, Region: region, Credentials: creds}}},
//	}})
//	…
//	err = p.Record(ctx, telemetry.Event{Type: ssm.TypeAgentTelemetry, Name: ssm.NameAgentStart})
//
// Without a Sender the channel is pending: its events wait in the spool
// (bounded by SinkConfig.MaxPendingBytes) and nothing is lost.
package ssm

// Event types the SSM Agent records.
const (
	// TypeAgentTelemetry events count starts: NameAgentStart,
	// NameWorkerStart and NameInProcExecuterStart.
	TypeAgentTelemetry = "agent_telemetry"
	// TypeUpdateResult events carry an update's result string as their name,
	// with AttrSourceVersion and AttrTargetVersion.
	TypeUpdateResult = "agent_update_result"
)

// Event names and attributes the SSM Agent uses.
const (
	// NameAgentStart counts starts of the core (amazon-ssm-agent).
	NameAgentStart = "amazon-ssm-agent.start"
	// NameWorkerStart counts starts of the worker (ssm-agent-worker).
	NameWorkerStart = "ssm-agent-worker.start"
	// NameInProcExecuterStart counts in-process executer starts.
	NameInProcExecuterStart = "ssm-agent-worker.inproc-executer.start"

	// AttrSourceVersion and AttrTargetVersion are the versions an update
	// went from and to, on TypeUpdateResult events.
	AttrSourceVersion = "SourceVersion"
	AttrTargetVersion = "TargetVersion"
)
