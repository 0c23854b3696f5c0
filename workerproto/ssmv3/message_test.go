package ssmv3

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// Test vectors of the bodies the v3 core and worker exchange.
const (
	wantHealthRequest    = `{"SchemaVersion":1,"Topic":"GetWorkerHealthRequest","Payload":null}`
	wantTerminateRequest = `{"SchemaVersion":1,"Topic":"TerminateWorkerRequest","Payload":null}`
	// base64 of {"SchemaVersion":1,"Name":"ssm-agent-worker","WorkerType":"LongRunning","Pid":1234}
	wantHealthResult1234 = `{"SchemaVersion":1,"Topic":"GetWorkerHealthResult","Payload":"eyJTY2hlbWFWZXJzaW9uIjoxLCJOYW1lIjoic3NtLWFnZW50LXdvcmtlciIsIldvcmtlclR5cGUiOiJMb25nUnVubmluZyIsIlBpZCI6MTIzNH0="}`
	// base64 of {"SchemaVersion":1,"Name":"ssm-agent-worker","WorkerType":"LongRunning","Pid":1234,"IsTerminating":true}
	wantTerminating1234 = `{"SchemaVersion":1,"Topic":"GetWorkerHealthResult","Payload":"eyJTY2hlbWFWZXJzaW9uIjoxLCJOYW1lIjoic3NtLWFnZW50LXdvcmtlciIsIldvcmtlclR5cGUiOiJMb25nUnVubmluZyIsIlBpZCI6MTIzNCwiSXNUZXJtaW5hdGluZyI6dHJ1ZX0="}`
)

func TestMarshal(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"health request", HealthRequest().Marshal(), wantHealthRequest},
		{"terminate request", TerminateRequest().Marshal(), wantTerminateRequest},
		{"health result", HealthResult(Health{Name: "ssm-agent-worker", WorkerType: WorkerTypeLongRunning, Pid: 1234}).Marshal(), wantHealthResult1234},
		{"terminating", HealthResult(Health{Name: "ssm-agent-worker", WorkerType: "LongRunning", Pid: 1234, IsTerminating: true}).Marshal(), wantTerminating1234},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
	// The payload is the JSON document, in base64.
	m, err := ParseMessage([]byte(wantHealthResult1234))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"SchemaVersion":1,"Name":"ssm-agent-worker","WorkerType":"LongRunning","Pid":1234}`
	if string(m.Payload) != want {
		t.Errorf("payload %s, want %s", m.Payload, want)
	}
	if enc := base64.StdEncoding.EncodeToString([]byte(want)); !strings.Contains(wantHealthResult1234, `"Payload":"`+enc+`"`) {
		t.Errorf("the test vector's payload is not the base64 of %s", want)
	}
	// A schema version given is kept.
	if got := HealthResult(Health{SchemaVersion: 2, Name: "n", Pid: 1}); !bytes.Contains(got.Payload, []byte(`"SchemaVersion":2`)) || got.SchemaVersion != 1 {
		t.Errorf("HealthResult with schema version 2: %+v, payload %s", got, got.Payload)
	}
}

func TestParseMessage(t *testing.T) {
	m, err := ParseMessage([]byte(wantHealthRequest))
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 1 || m.Topic != TopicHealthRequest || m.Payload != nil {
		t.Errorf("ParseMessage = %+v", m)
	}
	// Other schema versions, unknown fields, spacing and a final newline
	// are accepted, as the v3 peers accept them.
	m, err = ParseMessage([]byte(" {\"SchemaVersion\":7, \"Topic\":\"X\", \"Extra\":[1], \"Payload\":\"e30=\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 7 || m.Topic != "X" || string(m.Payload) != "{}" {
		t.Errorf("ParseMessage = %+v", m)
	}
	// An empty payload is not a missing one.
	m, err = ParseMessage([]byte(`{"Topic":"X","Payload":""}`))
	if err != nil || m.Payload == nil || len(m.Payload) != 0 {
		t.Errorf("ParseMessage of an empty payload = %#v, %v", m, err)
	}

	bad := []string{
		``,
		`garbage`,
		`\x00\x01`,
		`{`,
		`null`,
		`[]`,
		`"GetWorkerHealthRequest"`,
		`{"SchemaVersion":1,"Payload":null}`,
		`{"SchemaVersion":1,"Topic":"","Payload":null}`,
		`{"SchemaVersion":1,"Topic":null,"Payload":null}`,
		`{"SchemaVersion":1,"Topic":7,"Payload":null}`,
		`{"SchemaVersion":"1","Topic":"X","Payload":null}`,
		`{"Topic":"X","Payload":"not base64!"}`,
		`{"Topic":"X","Payload":5}`,
		`{"Topic":"X","Payload":{"Pid":1}}`,
		`{"Topic":"X"} {"Topic":"Y"}`,
		`{"Topic":"X"}garbage`,
		`{"Topic":"X"}}`,
		`{"Topic":"X"}]`,
		`{"Topic":"X"},`,
	}
	for _, b := range bad {
		if m, err := ParseMessage([]byte(b)); err == nil {
			t.Errorf("ParseMessage(%q) = %+v, want an error", b, m)
		}
	}
}

func TestParseHealth(t *testing.T) {
	m, err := ParseMessage([]byte(wantTerminating1234))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHealth(m)
	if err != nil {
		t.Fatal(err)
	}
	want := Health{SchemaVersion: 1, Name: "ssm-agent-worker", WorkerType: "LongRunning", Pid: 1234, IsTerminating: true}
	if h != want {
		t.Errorf("ParseHealth = %+v, want %+v", h, want)
	}

	result := func(payload string) Message {
		return Message{SchemaVersion: 1, Topic: TopicHealthResult, Payload: []byte(payload)}
	}
	if h, err := ParseHealth(result(`{"SchemaVersion":9,"Name":"w","Pid":7,"More":true}`)); err != nil || h.Pid != 7 || h.Name != "w" || h.SchemaVersion != 9 {
		t.Errorf("ParseHealth = %+v, %v", h, err)
	}

	bad := []struct {
		name string
		m    Message
	}{
		{"request topic", Message{SchemaVersion: 1, Topic: TopicHealthRequest, Payload: []byte(`{"Name":"w","Pid":7}`)}},
		{"terminate topic", Message{SchemaVersion: 1, Topic: TopicTerminateRequest, Payload: []byte(`{"Name":"w","Pid":7}`)}},
		{"missing payload", Message{SchemaVersion: 1, Topic: TopicHealthResult}},
		{"empty payload", result(``)},
		{"garbage payload", result(`garbage`)},
		{"null payload", result(`null`)},
		{"array payload", result(`[1,2]`)},
		{"no pid", result(`{"Name":"w"}`)},
		{"zero pid", result(`{"Name":"w","Pid":0}`)},
		{"negative pid", result(`{"Name":"w","Pid":-5}`)},
		{"string pid", result(`{"Name":"w","Pid":"7"}`)},
		{"fractional pid", result(`{"Name":"w","Pid":7.5}`)},
		{"huge pid", result(`{"Name":"w","Pid":1e100}`)},
		{"no name", result(`{"Pid":7}`)},
		{"payload cut short", result(`{"Name":"w","Pid":7`)},
	}
	for _, c := range bad {
		if h, err := ParseHealth(c.m); err == nil {
			t.Errorf("%s: ParseHealth = %+v, want an error", c.name, h)
		}
	}
	// Through the whole body: a payload that is not base64 fails already
	// in ParseMessage.
	if _, err := ParseMessage([]byte(`{"SchemaVersion":1,"Topic":"GetWorkerHealthResult","Payload":"{\"Pid\":1}"}`)); err == nil {
		t.Error("a payload sent as JSON, not base64, was accepted")
	}
}
