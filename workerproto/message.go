package workerproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the protocol version this package speaks.
const Version = 1

// supportedVersions are the protocol versions this package speaks, ascending.
var supportedVersions = []int{Version}

// Message types. Each frame holds one JSON object with a "type"; fields a
// receiver does not know are ignored, and a type it does not know gets an
// "error" reply while the connection stays up.
const (
	typeHello       = "hello"       // worker → core: who I am, what I speak, my secret
	typeWelcome     = "welcome"     // core → worker: the chosen version and health interval
	typeRefused     = "refused"     // core → worker: the hello is refused, and why
	typePing        = "ping"        // core → worker
	typePong        = "pong"        // worker → core: the ping's id, status, detail
	typeEvent       = "event"       // worker → core: a telemetry event
	typeAck         = "ack"         // core → worker: the event's id; error set if refused
	typeTerminate   = "terminate"   // core → worker: stop by the deadline
	typeTerminating = "terminating" // worker → core: the terminate's id, sent at once
	typeReady       = "ready"       // worker → core: finished starting
	typeError       = "error"       // either way: the message with id could not be handled
)

// message is the union of all messages; each type uses some fields. The
// struct tags document the wire format, which codec.go reads and writes.
type message struct {
	Type string `json:"type"`
	// ID pairs a request with its reply: ping/pong, event/ack,
	// terminate/terminating, and any message with its error reply.
	ID uint64 `json:"id,omitempty"`

	// hello
	Name      string `json:"name,omitempty"`
	PID       int    `json:"pid,omitempty"`
	Version   string `json:"version,omitempty"`
	Protocols []int  `json:"protocols,omitempty"`
	Secret    string `json:"secret,omitempty"`
	Ready     bool   `json:"ready,omitempty"`

	// welcome
	Protocol         int   `json:"protocol,omitempty"`
	HealthIntervalMS int64 `json:"health_interval_ms,omitempty"`

	// pong
	Status Health `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`

	// event
	Event *Event `json:"event,omitempty"`

	// terminate
	Deadline *time.Time `json:"deadline,omitempty"`

	// refused, error, and a refused event's ack
	Error string `json:"error,omitempty"`
}

// A Health is a worker's own view of its health, sent in every pong.
type Health string

const (
	// HealthOK: the worker works.
	HealthOK Health = "ok"
	// HealthDegraded: the worker runs but something is wrong; see the detail.
	HealthDegraded Health = "degraded"
)

// maxDetail bounds the detail of a pong, in bytes.
const maxDetail = 256

// An Event is a telemetry event a worker reports to its core.
type Event struct {
	// ID identifies the event so that a receiver can drop a duplicate: an
	// event whose acknowledgement was lost is sent again after a
	// reconnect. Worker.Event sets a random one when it is empty.
	ID string `json:"id,omitempty"`
	// Type is the event type, such as agent_telemetry; required.
	Type string `json:"type"`
	// Name is the event name, such as ssm-agent-worker.start; required.
	Name string `json:"name"`
	// Time is when it happened; Worker.Event sets the current time when it
	// is zero.
	Time time.Time `json:"time"`
	// Attributes are optional string attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// validate reports what is wrong with e, if anything.
func (e *Event) validate() error {
	switch {
	case e.Type == "":
		return errors.New("event type is empty")
	case e.Name == "":
		return errors.New("event name is empty")
	case !utf8.ValidString(e.Type) || !utf8.ValidString(e.Name):
		return errors.New("event type or name is not UTF-8")
	}
	return nil
}

// msgCodec is the codec encode and decode use; the benchmarks switch it to
// measure one against the other and restore it before they return.
var msgCodec = handCodec

// encode appends m as one frame to b.
func encode(b []byte, m *message) ([]byte, error) {
	if b == nil {
		b = make([]byte, 0, 256)
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0) // the length, set below
	b, err := msgCodec.append(b, m)
	if err != nil {
		return b[:start], fmt.Errorf("workerproto: encode %s: %w", m.Type, err)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-frameHeaderSize))
	return b, nil
}

// decode parses one frame's payload. Unknown fields are ignored; a payload
// that is not a JSON object with a type is a protocol error.
func decode(payload []byte) (*message, error) {
	m := new(message)
	if err := msgCodec.decode(payload, m); err != nil {
		return nil, protocolErrorf("malformed message: %v", err)
	}
	if m.Type == "" {
		return nil, protocolErrorf("message without a type")
	}
	return m, nil
}

// chooseVersion returns the highest version both sides speak, or an error
// that says what each side speaks.
func chooseVersion(worker []int) (int, error) {
	best := 0
	for _, v := range worker {
		for _, c := range supportedVersions {
			if v == c && v > best {
				best = v
			}
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no common protocol version: worker speaks %s, core speaks %s",
			versionList(worker), versionList(supportedVersions))
	}
	return best, nil
}

// versionList formats versions for people: "1", "2–3", "1, 3".
func versionList(vs []int) string {
	if len(vs) == 0 {
		return "none"
	}
	contiguous := true
	for i := 1; i < len(vs); i++ {
		if vs[i] != vs[i-1]+1 {
			contiguous = false
		}
	}
	if contiguous {
		if len(vs) == 1 {
			return strconv.Itoa(vs[0])
		}
		return strconv.Itoa(vs[0]) + "–" + strconv.Itoa(vs[len(vs)-1])
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}
