package manifest

import (
	"fmt"
	"io"
	"strings"
)

// maxOSReleaseBytes bounds the os-release file; real ones are under 1 KiB.
const maxOSReleaseBytes = 64 << 10

// ParseOSRelease parses an os-release(5) file: lines of KEY=value where the
// value may be quoted in double quotes (with backslash escapes for
// " \ $ and `) or single quotes; blank lines and lines starting with # are
// skipped. Later assignments win. The error names the line and what is
// wrong with it; input over 64 KiB is refused.
func ParseOSRelease(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxOSReleaseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("os-release: %w", err)
	}
	if len(data) > maxOSReleaseBytes {
		return nil, fmt.Errorf("os-release: larger than %d bytes", maxOSReleaseBytes)
	}
	vars := make(map[string]string)
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("os-release line %d: %q is not KEY=value", n+1, truncate(line))
		}
		if !isVarName(key) {
			return nil, fmt.Errorf("os-release line %d: invalid variable name %q", n+1, truncate(key))
		}
		value, err := unquote(raw)
		if err != nil {
			return nil, fmt.Errorf("os-release line %d: %s: %w", n+1, key, err)
		}
		vars[key] = value
	}
	return vars, nil
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// unquote returns the value of a shell-style assignment's right-hand side.
func unquote(raw string) (string, error) {
	if raw == "" || (raw[0] != '"' && raw[0] != '\'') {
		return raw, nil
	}
	quote := raw[0]
	var b strings.Builder
	for i := 1; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == quote:
			if rest := strings.TrimSpace(raw[i+1:]); rest != "" {
				return "", fmt.Errorf("text %q after the closing quote", truncate(rest))
			}
			return b.String(), nil
		case c == '\\' && quote == '"' && i+1 < len(raw) && strings.IndexByte("\"\\$`", raw[i+1]) >= 0:
			i++
			b.WriteByte(raw[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("missing closing %c quote", quote)
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
