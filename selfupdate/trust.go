package selfupdate

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// ErrStaleManifest is the trust checks' error, beside
// signing.ErrBadSignature, for a signed manifest that is older than one
// already seen (its ManifestVersion went down: a rollback attack, or a
// stale mirror) or that has expired (a freeze attack, or a mirror that
// stopped updating); it is wrapped with what was found.
var ErrStaleManifest = errors.New("stale manifest")

// verifyManifest checks a manifest and its detached signature against the
// keys, then its version against the highest seen and its expiry against
// now. It returns the manifest's version.
func verifyManifest(data, sig []byte, keys []ed25519.PublicKey, highest uint64, now time.Time) (uint64, error) {
	tf, err := signing.Verify(data, sig, keys)
	if err != nil {
		return 0, fmt.Errorf("selfupdate: %w", err)
	}
	if tf.ManifestVersion == 0 {
		return 0, fmt.Errorf("selfupdate: %w: the signed manifest has no ManifestVersion", ErrStaleManifest)
	}
	if tf.ManifestVersion < highest {
		return 0, fmt.Errorf("selfupdate: %w: ManifestVersion %d is lower than %d, seen before", ErrStaleManifest, tf.ManifestVersion, highest)
	}
	if tf.Expires.IsZero() {
		return 0, fmt.Errorf("selfupdate: %w: the signed manifest has no Expires time", ErrStaleManifest)
	}
	if !now.Before(tf.Expires) {
		return 0, fmt.Errorf("selfupdate: %w: it expired at %s", ErrStaleManifest, tf.Expires.Format(time.RFC3339))
	}
	return tf.ManifestVersion, nil
}

// trustState is what is remembered between checks: the highest manifest
// version seen, and the ETag of the last manifest fetched.
type trustState struct {
	HighestManifestVersion uint64 `json:"highest_manifest_version"`
}

func loadTrust(path string) (trustState, error) {
	var st trustState
	b, err := atomicfile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("selfupdate: trust state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("selfupdate: trust state %s: %w", path, err)
	}
	return st, nil
}

func saveTrust(path string, st trustState) error {
	b, _ := json.Marshal(st)
	return atomicfile.WriteFile(path, b, 0o600)
}
