package workerproto

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
)

// Environment variables through which a core tells a worker it starts where
// to connect and how to prove who it is.
const (
	EnvSocket = "SSMKIT_WORKER_SOCKET"
	EnvSecret = "SSMKIT_WORKER_SECRET"
)

// A Secret is the random credential, 256 bits, that a core gives one worker
// and the worker presents in its hello. It never prints: String, GoString
// and every fmt verb show a placeholder, and a struct that holds a Secret in
// an unexported field prints a pointer, not the bytes. So a Secret cannot
// leak into logs or errors by accident; use Encode to store it on purpose.
// The zero Secret authenticates nobody.
type Secret struct {
	b *[secretSize]byte
}

const secretSize = 32

// NewSecret returns a new random Secret.
func NewSecret() (Secret, error) {
	b := new([secretSize]byte)
	if _, err := rand.Read(b[:]); err != nil {
		return Secret{}, fmt.Errorf("workerproto: new secret: %w", err)
	}
	return Secret{b}, nil
}

// ParseSecret decodes a Secret from the text Encode returns. The error does
// not repeat the text.
func ParseSecret(text string) (Secret, error) {
	b := new([secretSize]byte)
	if len(text) != hex.EncodedLen(secretSize) {
		return Secret{}, fmt.Errorf("workerproto: secret: want %d hexadecimal digits, got %d characters", hex.EncodedLen(secretSize), len(text))
	}
	if _, err := hex.Decode(b[:], []byte(text)); err != nil {
		return Secret{}, errors.New("workerproto: secret: not hexadecimal")
	}
	return Secret{b}, nil
}

// Encode returns the Secret as text, for the environment of a worker or a
// state file. Handle the result as the secret it is.
func (s Secret) Encode() string {
	if s.b == nil {
		return ""
	}
	return hex.EncodeToString(s.b[:])
}

// IsZero reports whether s is the zero Secret, which authenticates nobody.
func (s Secret) IsZero() bool { return s.b == nil }

// Equal reports whether s and t are the same secret, in constant time.
func (s Secret) Equal(t Secret) bool {
	if s.b == nil || t.b == nil {
		return s.b == t.b
	}
	return subtle.ConstantTimeCompare(s.b[:], t.b[:]) == 1
}

// String returns a placeholder, never the secret.
func (s Secret) String() string { return "workerproto.Secret(redacted)" }

// GoString returns a placeholder, never the secret.
func (s Secret) GoString() string { return s.String() }

// Format prints a placeholder for every verb.
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.String()) }

// fingerprint is the map key under which a listener finds a secret: its
// SHA-256, so that looking a secret up does not compare the secret itself.
func (s Secret) fingerprint() [32]byte {
	if s.b == nil {
		return [32]byte{}
	}
	return sha256.Sum256(s.b[:])
}

// Env returns the environment variables that tell a worker to connect to
// the core listening at socket with secret. Append them to the worker's
// environment.
func Env(socket string, secret Secret) []string {
	return []string{EnvSocket + "=" + socket, EnvSecret + "=" + secret.Encode()}
}
