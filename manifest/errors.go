package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
)

// Errors that queries return, wrapped with the names they looked for; branch
// on them with errors.Is.
var (
	ErrPackageNotFound = errors.New("package not found")
	ErrFileNotFound    = errors.New("file not found")
	ErrVersionNotFound = errors.New("version not found")
	// ErrUnknownStatus means a release has a Status other than Active,
	// Inactive or Deprecated, so nothing can be decided about it.
	ErrUnknownStatus = errors.New("unknown status")
)

// A ParseError reports a manifest that is not valid: where, and what is wrong.
type ParseError struct {
	// Path is the JSON path of the offending value, such as
	// "Packages[0].Files[2].AvailableVersions[5].Version"; it is empty when
	// the problem is with the document as a whole.
	Path string
	// Line and Column locate malformed JSON (1-based); they are zero for
	// errors found after decoding.
	Line, Column int
	Err          error
}

func (e *ParseError) Error() string {
	msg := "manifest: "
	if e.Line > 0 {
		msg += fmt.Sprintf("line %d, column %d: ", e.Line, e.Column)
	}
	if e.Path != "" {
		msg += e.Path + ": "
	}
	return msg + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

func parseErrorf(path, format string, args ...any) *ParseError {
	return &ParseError{Path: path, Err: fmt.Errorf(format, args...)}
}

// decodeError turns an error of json.Unmarshal on data into a *ParseError
// with the path and position of the offending value.
func decodeError(data []byte, err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		offset int64
		cause  error
	)
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset - 1 // Offset counts the offending byte
		cause = fmt.Errorf("malformed JSON: %s", syntax.Error())
	case errors.As(err, &typ):
		offset = typ.Offset
		cause = fmt.Errorf("want %s, got %s", kindName(typ.Type), typ.Value)
	default:
		return &ParseError{Err: err}
	}
	line, col := position(data, offset)
	return &ParseError{Path: pathAt(data, offset), Line: line, Column: col, Err: cause}
}

// kindName names the JSON kind a Go type is decoded from.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	default:
		return "number"
	}
}

// position returns the 1-based line and column of the byte at offset.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// pathAt returns the JSON path of the value being read when a decoder of
// data reaches offset (or fails before it). It runs only on the error path.
func pathAt(data []byte, offset int64) string {
	type frame struct {
		array   bool
		index   int    // array: index of the current element, -1 before the first
		key     string // object: key of the current member
		haveKey bool
	}
	stack := []frame{}
	path := func() string {
		var b []byte
		for _, f := range stack {
			switch {
			case f.array && f.index >= 0:
				b = append(b, '[')
				b = strconv.AppendInt(b, int64(f.index), 10)
				b = append(b, ']')
			case !f.array && f.haveKey:
				if len(b) > 0 {
					b = append(b, '.')
				}
				b = append(b, f.key...)
			}
		}
		return string(b)
	}
	// begin and end bracket a value inside the innermost container.
	begin := func() {
		if n := len(stack); n > 0 && stack[n-1].array {
			stack[n-1].index++
		}
	}
	end := func() {
		if n := len(stack); n > 0 && !stack[n-1].array {
			stack[n-1].haveKey = false
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		reached := dec.InputOffset() >= offset
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				begin()
				if reached {
					return path()
				}
				stack = append(stack, frame{array: t == '[', index: -1})
				continue
			}
			stack = stack[:len(stack)-1]
			if reached {
				return path()
			}
			end()
			continue
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && !stack[n-1].haveKey {
				stack[n-1].key, stack[n-1].haveKey = t, true
				if reached {
					return path()
				}
				continue
			}
		}
		begin()
		if reached {
			return path()
		}
		end()
	}
}
