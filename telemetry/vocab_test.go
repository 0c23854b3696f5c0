package telemetry

// Event types and names of the tests: the SSM Agent's (telemetry/ssm cannot
// be imported here, it imports this package).
const (
	typeAgentTelemetry = "agent_telemetry"
	typeUpdateResult   = "agent_update_result"
	nameAgentStart     = "amazon-ssm-agent.start"
	nameWorkerStart    = "ssm-agent-worker.start"
)
