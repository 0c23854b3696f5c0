package manifest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidVersion is wrapped by every error about a malformed version string.
var ErrInvalidVersion = errors.New("invalid version")

// A Version is an agent version such as 3.0.151.0: one or more dot-separated
// components of decimal digits (^\d+(\.\d+)*$).
//
// Versions compare the way the SSM Agent compares them: numerically per
// component, of any length (there is no overflow: digit strings are
// compared); leading zeros are ignored (1.01 equals 1.1); a proper prefix is
// smaller (1.1 < 1.1.1); trailing zeros are not normalised (1.0 < 1.0.0).
//
// The zero Version is not a valid version; it reports IsZero and sorts before
// every valid one. A Version keeps its text exactly as parsed, so a version
// read from a manifest prints, and builds URLs, exactly as the manifest
// spells it.
type Version struct {
	s string
}

// ParseVersion parses s as a version. The error wraps ErrInvalidVersion and
// quotes s.
func ParseVersion(s string) (Version, error) {
	if why := checkVersion(s); why != "" {
		return Version{}, &versionError{text: s, why: why}
	}
	return Version{s: s}, nil
}

// MustParseVersion is like ParseVersion but panics if s is not a valid
// version. It is meant for constants in programs and tests.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// checkVersion reports why s is not a valid version, or "" if it is one.
func checkVersion(s string) string {
	if s == "" {
		return "empty"
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if s[i] < '0' || s[i] > '9' {
				r, _ := utf8.DecodeRuneInString(s[i:])
				return fmt.Sprintf("character %q at offset %d is neither a digit nor a dot", r, i)
			}
			continue
		}
		if i == start {
			return fmt.Sprintf("empty component at offset %d", i)
		}
		start = i + 1
	}
	return ""
}

type versionError struct {
	text string
	why  string
}

func (e *versionError) Error() string {
	return fmt.Sprintf("invalid version %q: %s (want digits separated by dots, like 3.0.151.0)", e.text, e.why)
}

func (e *versionError) Unwrap() error { return ErrInvalidVersion }

// String returns the version as it was parsed, or "" for the zero Version.
func (v Version) String() string { return v.s }

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v.s == "" }

// Compare returns -1, 0 or +1 as v is less than, equal to, or greater than w.
func (v Version) Compare(w Version) int { return Compare(v, w) }

// Equal reports whether v and w compare equal (1.01 equals 1.1).
func (v Version) Equal(w Version) bool { return Compare(v, w) == 0 }

// MarshalText implements encoding.TextMarshaler.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.s), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts exactly what
// ParseVersion accepts.
func (v *Version) UnmarshalText(text []byte) error {
	p, err := ParseVersion(string(text))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Compare returns -1, 0 or +1 as a is less than, equal to, or greater than b.
// It is a total order on valid versions; the zero Version is less than all of
// them. It allocates nothing.
func Compare(a, b Version) int {
	x, y := a.s, b.s
	switch {
	case x == y:
		return 0
	case x == "":
		return -1
	case y == "":
		return +1
	}
	for {
		var cx, cy string
		cx, x = nextComponent(x)
		cy, y = nextComponent(y)
		if c := compareDigits(cx, cy); c != 0 {
			return c
		}
		switch {
		case x == "" && y == "":
			return 0
		case x == "":
			return -1 // a is a proper prefix of b
		case y == "":
			return +1
		}
	}
}

// nextComponent splits s at its first dot and strips the leading zeros of the
// component before it.
func nextComponent(s string) (comp, rest string) {
	comp, rest, _ = strings.Cut(s, ".")
	return strings.TrimLeft(comp, "0"), rest
}

// compareDigits compares two digit strings without leading zeros as numbers.
func compareDigits(x, y string) int {
	if len(x) != len(y) {
		if len(x) < len(y) {
			return -1
		}
		return +1
	}
	return strings.Compare(x, y)
}

// key returns a string that is equal for two versions exactly when they
// compare equal: the version with the leading zeros of each component
// removed. It allocates only when there is such a zero to remove.
func (v Version) key() string {
	s := v.s
	if !hasLeadingZero(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for rest := s; ; {
		var comp string
		comp, rest = nextComponent(rest)
		if comp == "" {
			comp = "0"
		}
		b.WriteString(comp)
		if rest == "" {
			return b.String()
		}
		b.WriteByte('.')
	}
}

func hasLeadingZero(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '0' && (i == 0 || s[i-1] == '.') && s[i+1] != '.' {
			return true
		}
	}
	return false
}
