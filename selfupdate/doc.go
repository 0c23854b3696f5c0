// Package selfupdate updates a running agent when its release manifest
// marks its version deprecated: opt-in, verified, crash-safe, and rolled
// back when the new version does not prove healthy.
//
// An update fetches the manifest (optionally with an ed25519 signature, a
// version that only goes up, and an expiry), decides with the manifest
// package (Deprecated only, to the latest Active, no downgrade unless
// allowed), downloads the target package to a .partial file while hashing
// it (resuming with a range request, after checking for disk space),
// verifies its SHA-256, unpacks it safely into a staging directory,
// renames it to versions/<version>/ and switches current to it atomically
// (see Layout). Then a guardian — a process that survives the restart,
// started through a Launcher, or the updating process itself — restarts
// into the new version through a Restarter and asks a HealthChecker until a
// deadline (3 minutes by default): healthy, the update is committed;
// otherwise current is switched back, the old version restarted and
// checked, and the failure reported. Every step is written to a journal
// first, and Recover, at start-up, finishes or undoes whatever a crash
// interrupted, so the host always runs a complete version and the journal
// says which. One update runs at a time, under a lock file that names its
// holder by pid and process start time.
//
// Fleets: a release's manifest Rollout (waves, groups, a pause) decides
// when this agent may take it, by Config.InstanceID and Config.Group, and
// Config.Window (a maintenance window) when Serve may install it. Serve
// checks on Config.Schedule with jitter and, when an update is due but not
// yet allowed, again at the time it becomes allowed (Plan.NextAllowed)
// plus a jitter spread over the window, so a fleet neither waits a whole
// period nor wakes in one second. Update, the operator's, overrides the
// window but never a paused or unopened rollout.
//
// Results are reported through Config.OnResult with the SSM Agent's result
// strings, such as UpdateSucceeded_SelfUpdate-3.3.987.0 or
// UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-3.3.987.0.
//
// What protects the update: without PublicKeys, as in the SSM Agent, the
// manifest is trusted because it came over HTTPS from the configured URL,
// and each package is checked against the manifest's SHA-256. That stops a
// corrupted or truncated download, not a compromised bucket or mirror,
// which could serve any manifest. With PublicKeys, the manifest must also
// be signed by one of the keys (ssm-agent keygen and ssm-agent manifest
// sign make and use them), must not be older than one already seen
// (rollback attacks), and must not have expired (freeze attacks).
//
// Sources: https (plain http only to loopback), file, and s3 through the
// selfupdate/s3 subpackage.
package selfupdate
