package cloudwatch

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// retentionDays are the values CloudWatch Logs accepts for a log group's
// retention.
var retentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// The service's rules for names. The length of a group's name is checked
// apart (maxLogGroupName): the counted repetition {1,512} compiles to a
// program 512 times the size — 350 KB allocated, and a megabyte of stack
// for the compiler's recursion, at every start of every process that
// imports the package.
var logGroupPattern = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]+$`)

const (
	maxLogGroupName  = 512
	maxLogStreamName = 512
	maxNamespace     = 255
)

// Validate reports the first field of l that the service would refuse, or
// nil; an empty Group or Stream is not an error but a sink not yet
// configured. Open calls it for a Logs in Config.Sinks.
func (l *Logs) Validate() error {
	switch {
	case l.Group != "" && (len(l.Group) > maxLogGroupName || !logGroupPattern.MatchString(l.Group)):
		return fmt.Errorf("Logs.Group %q is not 1 to 512 of A-Z, a-z, 0-9, '.', '-', '_', '/', '#'", l.Group)
	case len(l.Stream) > maxLogStreamName || strings.ContainsAny(l.Stream, ":*") || hasControl(l.Stream):
		return fmt.Errorf("Logs.Stream %q is not 1 to 512 characters without ':', '*' or control characters", l.Stream)
	case l.RetentionDays != 0 && !slices.Contains(retentionDays, l.RetentionDays):
		return fmt.Errorf("Logs.RetentionDays is %d, want one of %v (0: never expire)", l.RetentionDays, retentionDays)
	}
	return nil
}

// Validate reports whether m's Namespace is one the service would refuse
// (more than 255 characters, control characters, or AWS/ at the start),
// or nil. Open calls it for a Metrics in Config.Sinks.
func (m *Metrics) Validate() error {
	if ns := m.Namespace; len(ns) > maxNamespace || hasControl(ns) || strings.HasPrefix(ns, "AWS/") || strings.HasPrefix(ns, ":") {
		return fmt.Errorf("Metrics.Namespace %q is not up to 255 printable characters, not starting with AWS/ or ':' (empty: %s)", ns, DefaultNamespace)
	}
	if len(m.InstanceID) > maxDimensionValue || hasControl(m.InstanceID) {
		return fmt.Errorf("Metrics.InstanceID %q is not up to %d printable characters", m.InstanceID, maxDimensionValue)
	}
	return nil
}

func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl)
}
