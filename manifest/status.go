package manifest

// A Status is the release status of a version in the manifest.
type Status string

// The statuses the SSM Agent knows. A missing or empty status in a manifest
// reads as StatusActive.
const (
	// StatusActive releases may be installed and are update targets.
	StatusActive Status = "Active"
	// StatusInactive releases stay where they are but are never targets.
	StatusInactive Status = "Inactive"
	// StatusDeprecated releases must be updated to the latest active one.
	StatusDeprecated Status = "Deprecated"
)

// Known reports whether s is one of StatusActive, StatusInactive and
// StatusDeprecated. Statuses are case-sensitive, as in the SSM Agent.
func (s Status) Known() bool {
	switch s {
	case StatusActive, StatusInactive, StatusDeprecated:
		return true
	}
	return false
}
