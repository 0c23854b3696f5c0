package ssmv3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Topics of the v3 messages.
const (
	TopicHealthRequest    = "GetWorkerHealthRequest"
	TopicHealthResult     = "GetWorkerHealthResult"
	TopicTerminateRequest = "TerminateWorkerRequest"
)

// WorkerTypeLongRunning is the WorkerType of a long-running worker, such as
// ssm-agent-worker.
const WorkerTypeLongRunning = "LongRunning"

// SchemaVersion is the schema version of the messages and payloads sent.
// Received ones are accepted whatever theirs, as the v3 peers do.
const SchemaVersion = 1

// A Message is the body of every frame: compact JSON
// {"SchemaVersion":1,"Topic":"...","Payload":<base64 or null>}. The payload
// is itself a JSON document, carried as base64 because it is a Go []byte
// in the v3 agent.
type Message struct {
	SchemaVersion int
	Topic         string
	Payload       []byte
}

// Marshal encodes m as the v3 peers do.
func (m Message) Marshal() []byte {
	b, _ := json.Marshal(m) // a struct of int, string and []byte cannot fail
	return b
}

// ParseMessage decodes a message body.
func ParseMessage(body []byte) (Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("ssmv3: message %.64q: %w", body, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Message{}, fmt.Errorf("ssmv3: message %.64q: data after the JSON object", body)
	}
	if m.Topic == "" {
		return Message{}, fmt.Errorf("ssmv3: message %.64q: no Topic", body)
	}
	return m, nil
}

// Health is the payload of a GetWorkerHealthResult: who the worker is.
type Health struct {
	SchemaVersion int
	Name          string
	WorkerType    string
	Pid           int
	// IsTerminating is set in the reply to a terminate request.
	IsTerminating bool `json:",omitempty"`
}

// HealthRequest is the core's health survey.
func HealthRequest() Message { return Message{SchemaVersion: SchemaVersion, Topic: TopicHealthRequest} }

// TerminateRequest is the core's request that its workers stop.
func TerminateRequest() Message {
	return Message{SchemaVersion: SchemaVersion, Topic: TopicTerminateRequest}
}

// HealthResult is a worker's answer to a health survey, or (with
// IsTerminating, under the same topic, as the v3 worker labels it) to a
// terminate request.
func HealthResult(h Health) Message {
	if h.SchemaVersion == 0 {
		h.SchemaVersion = SchemaVersion
	}
	p, _ := json.Marshal(h)
	return Message{SchemaVersion: SchemaVersion, Topic: TopicHealthResult, Payload: p}
}

// ParseHealth decodes the payload of a GetWorkerHealthResult.
func ParseHealth(m Message) (Health, error) {
	if m.Topic != TopicHealthResult {
		return Health{}, fmt.Errorf("ssmv3: topic %q, want %s", m.Topic, TopicHealthResult)
	}
	if m.Payload == nil {
		return Health{}, errors.New("ssmv3: health result without a payload")
	}
	var h Health
	if err := json.Unmarshal(m.Payload, &h); err != nil {
		return Health{}, fmt.Errorf("ssmv3: health payload %.64q: %w", m.Payload, err)
	}
	if h.Name == "" || h.Pid <= 0 {
		return Health{}, fmt.Errorf("ssmv3: health payload %.64q: want a Name and a positive Pid", m.Payload)
	}
	return h, nil
}
