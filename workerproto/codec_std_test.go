package workerproto

import (
	"bytes"
	"encoding/json"
)

// stdCodec reads and writes messages with encoding/json: the baseline the
// benchmarks measure the hand-written codec against.
var stdCodec = codec{name: "encoding-json", append: appendMessageStd, decode: decodeMessageStd}

func appendMessageStd(b []byte, m *message) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return b, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode ends with a newline
}

func decodeMessageStd(data []byte, m *message) error {
	return json.Unmarshal(data, m)
}
