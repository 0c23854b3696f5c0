// Package jsonstr appends Go strings as JSON strings, without reflection
// and without allocating beyond the buffer it appends to. It is shared by
// the hand-written encoders of workerproto and telemetry, so that both escape
// the same way (AppendMap writes a string map as an object):
//
//	b = jsonstr.Append(b, "a \"quoted\" line\n") // "a \"quoted\" line\n"
//
// Quotes, backslashes and control characters are escaped; invalid UTF-8
// becomes U+FFFD, as encoding/json writes it. Unlike encoding/json, '<',
// '>', '&', U+2028 and U+2029 are written as they are: the output is JSON,
// not JSON to embed in HTML or JavaScript.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendMap appends m to b as a JSON object of strings, in map order, and
// returns the extended buffer.
func AppendMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = Append(b, k)
		b = append(b, ':')
		b = Append(b, v)
	}
	return append(b, '}')
}

// Append appends s to b as a JSON string and returns the extended buffer.
func Append(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
