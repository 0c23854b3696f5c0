// Package release is the publisher's side of selfupdate: it edits a
// manifest for a new release, signs it, publishes it safely, and halts a
// rollout that fails.
//
// Add puts a version in a manifest for every package file given (SHA-256
// computed by streaming each file, status Active, older versions
// Deprecated on request, a rollout plan checked by manifest.Rollout.Check).
// Pause sets a release's rollout paused or resumed. Seal raises the
// manifest's ManifestVersion by one, sets Expires, and signs it with
// selfupdate/signing.
//
// A Publisher uploads a sealed manifest to a Target (S3Target for
// s3://bucket/prefix, DirTarget for a local directory) in the safe order:
// first every package the manifest names that the published one did not
// (at the key its UriFormat gives, see PackageKey), then the signature,
// then the manifest — so that no manifest an agent can read names a
// package not yet uploaded. Writes are conditional where the store offers
// it: a package is created only if absent (an existing object is kept only
// when its SHA-256 is the release's), and the signature and the manifest
// are replaced only if they are still what the publisher read at its
// start, so that of two publishers racing one fails with ErrConflict
// instead of both overwriting each other silently. A Target that is a
// Locker (DirTarget: an OS lock on .publish.lock in the directory) is
// held for the whole publish, and a second publisher fails at once with
// ErrConflict. A manifest that expires within MinExpiry is neither sealed
// nor published.
//
// What an agent reads between the signature's upload and the manifest's
// is the old manifest with the new signature: a pair that fails the
// signature check, so the agent takes nothing and tries again at its next
// check. A publish that fails there puts the old signature back; one that
// is killed there is finished by running it again.
//
// Halt reads each rolling-out release's update results from CloudWatch
// (the fleet-wide agent_update_result metric that telemetry/cloudwatch's
// Metrics sink sends, through GetMetricData) and pauses a release whose
// failure ratio reaches Rule.Threshold after Rule.MinResults results, by
// re-sealing and re-publishing the manifest.
//
// The smallest use:
//
//	m := release.New("s3://my-bucket/agent/{PackageName}/{PackageVersion}/{FileName}")
//	err := release.Add{Package: "my-agent", Version: v, Files: []string{"dist/my-agent-linux-amd64.tar.gz"}}.Apply(m, time.Now())
//	data, sig, err := release.Seal(m, key, time.Now().Add(30*24*time.Hour))
//	p := &release.Publisher{Target: &release.S3Target{Client: s3client, Bucket: "my-bucket", Prefix: "agent"}, Packages: "dist"}
//	report, err := p.Publish(ctx, data, sig)
package release
