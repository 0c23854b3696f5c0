package telemetry_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/telemetry"
)

// printSink is a sink of one's own: it prints each event.
type printSink struct{}

func (printSink) Name() string { return "print" }

func (printSink) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	for _, e := range events {
		fmt.Println(e.Type, e.Name, e.AgentVersion, e.Attributes)
	}
	return len(events), nil
}

// chanSink hands each event to a channel.
type chanSink chan telemetry.Event

func (chanSink) Name() string { return "chan" }

func (c chanSink) Send(ctx context.Context, events []telemetry.Event) (int, error) {
	for i, e := range events {
		select {
		case c <- e:
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	return len(events), nil
}

// A pipeline with a sink of one's own: Record stores each event on disk,
// Close (or Serve, while it runs) delivers them.
func ExamplePipeline() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)

	p, err := telemetry.Open(telemetry.Config{Dir: dir, AgentVersion: "1.2.0",
		Sinks: []telemetry.SinkConfig{{Sink: printSink{}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	p.Record(ctx, telemetry.Event{Type: "myagent", Name: "start"})
	p.Record(ctx, telemetry.Event{Type: "myagent", Name: "login", Attributes: map[string]string{"user": "ops"}})
	if err := p.Close(ctx); err != nil { // delivers what is pending
		fmt.Println(err)
	}
	st := p.Status()[0]
	fmt.Println(st.Name, st.State, st.Delivered, "delivered")
	// Output:
	// myagent start 1.2.0 map[]
	// myagent login 1.2.0 map[user:ops]
	// print ok 2 delivered
}

// Serve delivers while the agent runs, each sink after its flush
// interval; cancelling its context stops it, and Close delivers the rest.
func ExamplePipeline_Serve() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	got := make(chanSink)
	p, err := telemetry.Open(telemetry.Config{Dir: dir,
		Sinks: []telemetry.SinkConfig{{Sink: got, FlushInterval: 10 * time.Millisecond}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx) }()

	p.Record(ctx, telemetry.Event{Type: "myagent", Name: "start"})
	e := <-got
	fmt.Println("delivered:", e.Type, e.Name)

	cancel()
	fmt.Println("Serve:", <-served)
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	fmt.Println("Close:", p.Close(shutdown))
	// Output:
	// delivered: myagent start
	// Serve: <nil>
	// Close: <nil>
}

// AuditFiles by default writes the SSM Agent's audit files.
func ExampleAuditFiles() {
	dir, _ := os.MkdirTemp("", "audits")
	defer os.RemoveAll(dir)
	spool, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(spool)

	p, err := telemetry.Open(telemetry.Config{Dir: spool, AgentVersion: "3.0.151.0",
		Sinks: []telemetry.SinkConfig{{Sink: &telemetry.AuditFiles{Dir: dir, Location: time.UTC}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC)
	p.Record(ctx, telemetry.Event{Type: "agent_telemetry", Name: "amazon-ssm-agent.start", Time: at})
	p.Record(ctx, telemetry.Event{Type: "agent_telemetry", Name: "ssm-agent-worker.start", Time: at.Add(time.Second)})
	p.Close(ctx) // delivers what is pending

	b, _ := os.ReadFile(filepath.Join(dir, telemetry.DefaultAuditPrefix+"2026-11-25"))
	fmt.Print(string(b))
	// Output:
	// SchemaVersion=1
	// agent_telemetry amazon-ssm-agent.start 3.0.151.0 10:15:03
	// agent_telemetry ssm-agent-worker.start 3.0.151.0 10:15:04
}

// Another agent names its audit files and their header itself.
func ExampleAuditFiles_prefix() {
	dir, _ := os.MkdirTemp("", "audits")
	defer os.RemoveAll(dir)

	a := &telemetry.AuditFiles{Dir: dir, Prefix: "myagent-audit-", Header: "myagent audit v2", Keep: 30, Location: time.UTC}
	at := time.Date(2026, 11, 25, 10, 15, 3, 0, time.UTC)
	if _, err := a.Send(context.Background(), []telemetry.Event{{Type: "myagent", Name: "start", AgentVersion: "1.2.0", Time: at}}); err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(filepath.Join(dir, "myagent-audit-2026-11-25"))
	fmt.Print(string(b))

	bad := &telemetry.AuditFiles{Dir: dir, Keep: -1}
	fmt.Println(bad.Validate())
	// Output:
	// myagent audit v2
	// myagent start 1.2.0 10:15:03
	// AuditFiles.Keep is -1, want at least 1 (0: the default, 7)
}

// Open refuses a value out of range, naming the field.
func ExampleOpen_invalid() {
	_, err := telemetry.Open(telemetry.Config{Dir: os.TempDir(), Sinks: []telemetry.SinkConfig{{Sink: printSink{}, MaxBatch: -1}}})
	fmt.Println(err)
	// Output:
	// telemetry: Config.Sinks[0] (print): SinkConfig.MaxBatch is negative (-1); 0 means the default
}
