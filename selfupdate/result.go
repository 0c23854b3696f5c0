package selfupdate

import "strings"

// SSM's update states and the error codes of its self-update, used in
// result strings.
const (
	StateSucceeded = "UpdateSucceeded"
	StateFailed    = "UpdateFailed"

	ErrorUpdaterLockBusy           = "ErrorUpdaterLockBusy"
	ErrorInitializationFailed      = "ErrorInitializationFailed"
	ErrorDownloadManifest          = "ErrorDownloadManifest"
	ErrorVersionNotFoundInManifest = "ErrorVersionNotFoundInManifest"
	ErrorTargetPkgDownload         = "ErrorTargetPkgDownload"
	ErrorInstallFailed             = "ErrorInstallFailed"
	ErrorCannotStartService        = "ErrorCannotStartService"
)

// A Result is the outcome of one update attempt, as the SSM Agent reports
// it: Code is SSM's result string, such as UpdateSucceeded_SelfUpdate-3.3.987.0
// or UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-3.3.987.0.
type Result struct {
	Code           string
	Source, Target string
	// Err says what went wrong; nil on success.
	Err error
}

// resultCode builds <state>_SelfUpdate[_<sub><code>][-<target>].
func resultCode(state, sub, code, target string) string {
	var b strings.Builder
	b.WriteString(state)
	b.WriteString("_SelfUpdate")
	if code != "" {
		b.WriteString("_")
		if sub != "" {
			b.WriteString(sub + "_")
		}
		b.WriteString(code)
	}
	if target != "" {
		b.WriteString("-" + target)
	}
	return b.String()
}
