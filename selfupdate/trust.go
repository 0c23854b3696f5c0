package selfupdate

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
)

// Errors of the trust checks on a signed manifest; each is wrapped with
// what was found.
var (
	// ErrBadSignature: the manifest has no signature, or none by a
	// configured key.
	ErrBadSignature = errors.New("manifest signature check failed")
	// ErrRollback: the manifest's version is lower than one already seen
	// (a rollback attack, or a stale mirror).
	ErrRollback = errors.New("manifest version went down")
	// ErrExpired: the manifest's expiry has passed (a freeze attack, or a
	// mirror that stopped updating).
	ErrExpired = errors.New("manifest expired")
)

// trustFields are the fields a signed manifest carries beside SSM's
// schema: a version that only goes up, and an expiry.
type trustFields struct {
	ManifestVersion uint64
	Expires         time.Time
}

// verifyManifest checks a manifest and its detached signature against the
// keys, then its version against the highest seen and its expiry against
// now. It returns the manifest's version.
func verifyManifest(data, sig []byte, keys []ed25519.PublicKey, highest uint64, now time.Time) (uint64, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil || len(raw) != ed25519.SignatureSize {
		return 0, fmt.Errorf("selfupdate: %w: the signature file is not a base64 ed25519 signature", ErrBadSignature)
	}
	ok := false
	for _, k := range keys {
		if ed25519.Verify(k, data, raw) {
			ok = true
			break
		}
	}
	if !ok {
		return 0, fmt.Errorf("selfupdate: %w: not signed by any of the %d configured keys", ErrBadSignature, len(keys))
	}
	var tf trustFields
	if err := json.Unmarshal(data, &tf); err != nil {
		return 0, fmt.Errorf("selfupdate: signed manifest: %w", err)
	}
	if tf.ManifestVersion == 0 {
		return 0, fmt.Errorf("selfupdate: %w: the signed manifest has no ManifestVersion", ErrRollback)
	}
	if tf.ManifestVersion < highest {
		return 0, fmt.Errorf("selfupdate: %w: ManifestVersion %d is lower than %d, seen before", ErrRollback, tf.ManifestVersion, highest)
	}
	if tf.Expires.IsZero() {
		return 0, fmt.Errorf("selfupdate: %w: the signed manifest has no Expires time", ErrExpired)
	}
	if !now.Before(tf.Expires) {
		return 0, fmt.Errorf("selfupdate: %w: it expired at %s", ErrExpired, tf.Expires.Format(time.RFC3339))
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

// GenerateKey makes a new ed25519 key pair for signing manifests and
// returns both in PEM: the private key as PKCS #8, the public key as PKIX.
func GenerateKey() (privatePEM, publicPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// ParsePrivateKey reads an ed25519 private key in PKCS #8 PEM.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("selfupdate: private key: want a PEM block of type PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("selfupdate: private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("selfupdate: private key: %T, want ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey reads an ed25519 public key in PKIX PEM.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("selfupdate: public key: want a PEM block of type PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("selfupdate: public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("selfupdate: public key: %T, want ed25519", k)
	}
	return pub, nil
}

// Sign returns the detached signature of a manifest, in base64, as the
// <manifest URL>.sig file holds it. A manifest to be signed needs the
// fields ManifestVersion (a number that grows with each new manifest) and
// Expires (an RFC 3339 time); Sign checks that they are there.
func Sign(manifest []byte, key ed25519.PrivateKey) ([]byte, error) {
	var tf trustFields
	if err := json.Unmarshal(manifest, &tf); err != nil {
		return nil, fmt.Errorf("selfupdate: sign: %w", err)
	}
	if tf.ManifestVersion == 0 || tf.Expires.IsZero() {
		return nil, errors.New("selfupdate: sign: the manifest needs ManifestVersion (a number above 0) and Expires (an RFC 3339 time)")
	}
	sig := ed25519.Sign(key, manifest)
	return []byte(base64.StdEncoding.EncodeToString(sig) + "\n"), nil
}
