// Package signing makes and checks the detached signatures of update
// manifests: an ed25519 key pair in PEM (GenerateKey), the signature of a
// manifest that carries a ManifestVersion and an Expires time (Sign), and
// its check against a set of public keys (Verify), which selfupdate does
// before it trusts a manifest when Config.PublicKeys is set.
//
//	priv, pub, _ := signing.GenerateKey() // keep priv offline
//	key, _ := signing.ParsePrivateKey(priv)
//	sig, _ := signing.Sign(manifestJSON, key) // publish as <manifest URL>.sig
package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadSignature is wrapped by Verify's error for a signature that is not
// one, or not by any of the keys.
var ErrBadSignature = errors.New("manifest signature check failed")

// Fields are what a signed manifest carries beside SSM's schema: a version
// that only goes up, and an expiry.
type Fields struct {
	ManifestVersion uint64
	Expires         time.Time
}

// MaxSignatures is the most signatures a .sig file may hold.
const MaxSignatures = 8

// Verify checks a manifest's detached signature against the keys, and
// returns the manifest's Fields; what they must be is the verifier's rule
// (selfupdate: a version not lower than one seen, an expiry ahead).
//
// The .sig file holds one base64 signature per line, at most
// MaxSignatures; the manifest verifies when any of them is by any of the
// keys. A publisher replacing a manifest first publishes the new
// signature beside the old one (Join), then the manifest, then the new
// signature alone, so that an agent reading between two uploads verifies
// whichever manifest it got.
func Verify(manifest, sig []byte, keys []ed25519.PublicKey) (Fields, error) {
	sigs, err := split(sig)
	if err != nil {
		return Fields{}, err
	}
	ok := false
	for _, raw := range sigs {
		for _, k := range keys {
			if ed25519.Verify(k, manifest, raw) {
				ok = true
				break
			}
		}
	}
	if !ok {
		return Fields{}, fmt.Errorf("%w: not signed by any of the %d configured keys", ErrBadSignature, len(keys))
	}
	var f Fields
	if err := json.Unmarshal(manifest, &f); err != nil {
		return Fields{}, fmt.Errorf("signed manifest: %w", err)
	}
	return f, nil
}

// split decodes the signatures of a .sig file, one per line.
func split(sig []byte) ([][]byte, error) {
	lines := strings.Fields(string(sig))
	switch {
	case len(lines) == 0:
		return nil, fmt.Errorf("%w: the signature file is empty", ErrBadSignature)
	case len(lines) > MaxSignatures:
		return nil, fmt.Errorf("%w: the signature file holds %d signatures, more than %d", ErrBadSignature, len(lines), MaxSignatures)
	}
	out := make([][]byte, len(lines))
	for i, line := range lines {
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(raw) != ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: line %d of the signature file is not a base64 ed25519 signature", ErrBadSignature, i+1)
		}
		out[i] = raw
	}
	return out, nil
}

// Join returns a .sig file holding the signature sig first, then those of
// old that differ from it, up to MaxSignatures in all; lines of old that
// are not signatures are dropped.
func Join(sig, old []byte) []byte {
	first := string(bytes.TrimSpace(sig))
	lines := []string{first}
	for _, line := range strings.Fields(string(old)) {
		if len(lines) == MaxSignatures {
			break
		}
		raw, err := base64.StdEncoding.DecodeString(line)
		if err == nil && len(raw) == ed25519.SignatureSize && line != first {
			lines = append(lines, line)
		}
	}
	return []byte(strings.Join(lines, "\n") + "\n")
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
		return nil, errors.New("signing: private key: want a PEM block of type PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing: private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing: private key: %T, want ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey reads an ed25519 public key in PKIX PEM.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("signing: public key: want a PEM block of type PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing: public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("signing: public key: %T, want ed25519", k)
	}
	return pub, nil
}

// Sign returns the detached signature of a manifest, in base64, as the
// <manifest URL>.sig file holds it. A manifest to be signed needs the
// fields ManifestVersion (a number that grows with each new manifest) and
// Expires (an RFC 3339 time); Sign checks that they are there.
func Sign(manifest []byte, key ed25519.PrivateKey) ([]byte, error) {
	var tf Fields
	if err := json.Unmarshal(manifest, &tf); err != nil {
		return nil, fmt.Errorf("signing: sign: %w", err)
	}
	if tf.ManifestVersion == 0 || tf.Expires.IsZero() {
		return nil, errors.New("signing: sign: the manifest needs ManifestVersion (a number above 0) and Expires (an RFC 3339 time)")
	}
	sig := ed25519.Sign(key, manifest)
	return []byte(base64.StdEncoding.EncodeToString(sig) + "\n"), nil
}
