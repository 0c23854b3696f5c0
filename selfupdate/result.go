package selfupdate

import "strings"

// A Failure says why an update failed, in the words of SSM's result
// strings (Result.Code carries it).
type Failure string

// Failures of an update.
const (
	FailureLockBusy           Failure = "ErrorUpdaterLockBusy"           // another update holds the lock
	FailureInitialization     Failure = "ErrorInitializationFailed"      // the state could not be prepared
	FailureDownloadManifest   Failure = "ErrorDownloadManifest"          // no manifest, or one that was refused
	FailureVersionNotFound    Failure = "ErrorVersionNotFoundInManifest" // the running version is not in it
	FailurePackageDownload    Failure = "ErrorTargetPkgDownload"         // the package could not be had, or was refused
	FailureInstall            Failure = "ErrorInstallFailed"             // unpacking, staging or the health gate failed
	FailureCannotStartService Failure = "ErrorCannotStartService"        // not even the old version runs again
)

// SSM's update states, the first word of its result strings.
const (
	stateSucceeded = "UpdateSucceeded"
	stateFailed    = "UpdateFailed"
)

// A Result is the outcome of one update attempt, as the SSM Agent reports
// it: Code is SSM's result string, such as UpdateSucceeded_SelfUpdate-3.3.987.0
// or UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-3.3.987.0.
type Result struct {
	Code string
	// Failure is why it failed; empty when it succeeded.
	Failure Failure
	// RolledBack says the failure came after the switch: the old version
	// was switched back to and started again.
	RolledBack     bool
	Source, Target string
	// Err says what went wrong; nil on success.
	Err error
}

// Succeeded reports whether the update succeeded.
func (r Result) Succeeded() bool { return r.Code != "" && r.Failure == "" }

// resultCode builds <state>_SelfUpdate[_<sub><code>][-<target>].
func resultCode(state, sub string, code Failure, target string) string {
	var b strings.Builder
	b.WriteString(state)
	b.WriteString("_SelfUpdate")
	if code != "" {
		b.WriteString("_")
		if sub != "" {
			b.WriteString(sub + "_")
		}
		b.WriteString(string(code))
	}
	if target != "" {
		b.WriteString("-" + target)
	}
	return b.String()
}
