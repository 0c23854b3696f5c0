package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxConfigDepth bounds the nesting of the configuration's JSON: SSM's file
// needs four levels; thousands are an attack on the parser's stack.
const maxConfigDepth = 32

// checkConfigJSON checks what encoding/json lets pass but a configuration must
// not have: invalid UTF-8 (decoded silently as U+FFFD), a NUL character in
// a string, a key twice in one object — also one that differs only in case,
// since keys are matched case-insensitively (by SSM's loader too): which one
// won would depend on the order of the file or of a map — and nesting
// deeper than maxConfigDepth. Errors name the JSON path, and the line and
// column.
func checkConfigJSON(data []byte) error {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return fmt.Errorf("%s: invalid UTF-8", position(data, int64(off)))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkJSON(dec, data, "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: data after the configuration's JSON object", position(data, dec.InputOffset()))
	}
	return nil
}

// walkJSON checks the value that comes next in dec, at path.
func walkJSON(dec *json.Decoder, data []byte, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(data, err)
	}
	switch tok := tok.(type) {
	case string:
		if strings.ContainsRune(tok, 0) {
			return fmt.Errorf("%s: %s holds a NUL character", position(data, dec.InputOffset()), pathName(path))
		}
	case json.Delim:
		if tok == '}' || tok == ']' {
			return fmt.Errorf("%s: unexpected %q", position(data, dec.InputOffset()), tok)
		}
		if depth >= maxConfigDepth {
			return fmt.Errorf("%s: %s is nested more than %d levels deep", position(data, dec.InputOffset()), pathName(path), maxConfigDepth)
		}
		if tok == '[' {
			for i := 0; dec.More(); i++ {
				if err := walkJSON(dec, data, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
					return err
				}
			}
		} else {
			seen := map[string]string{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jsonError(data, err)
				}
				key := kt.(string)
				child := key
				if path != "" {
					child = path + "." + key
				}
				if prev, ok := seen[foldKey(key)]; ok {
					if prev == key {
						return fmt.Errorf("%s: key %s appears twice", position(data, dec.InputOffset()), pathName(child))
					}
					return fmt.Errorf("%s: keys %q and %q of %s differ only in case: keep one", position(data, dec.InputOffset()), prev, key, pathName(path))
				}
				seen[foldKey(key)] = key
				if strings.ContainsRune(key, 0) {
					return fmt.Errorf("%s: a key of %s holds a NUL character", position(data, dec.InputOffset()), pathName(path))
				}
				if err := walkJSON(dec, data, child, depth+1); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return jsonError(data, err)
		}
	}
	return nil
}

func pathName(path string) string {
	if path == "" {
		return "the configuration"
	}
	return strconv.Quote(path)
}

// position is "line L, column C" of byte offset off of data.
func position(data []byte, off int64) string {
	before := data[:min(max(off, 0), int64(len(data)))]
	line := 1 + bytes.Count(before, []byte{'\n'})
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// foldKey is key with every letter replaced by the smallest of its case
// forms (unicode.SimpleFold's orbit), so that keys equal under Unicode case
// folding — as encoding/json matches them: "ſ" is "s", the Kelvin sign
// "K" — have one foldKey.
func foldKey(key string) string {
	var b strings.Builder
	for _, r := range key {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}
