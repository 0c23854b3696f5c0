package signing

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// TestVerifyJoined: a .sig holding the new and the old signature verifies
// both manifests, so an agent reading between a publisher's two uploads
// verifies whichever manifest it got.
func TestVerifyJoined(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ParsePrivateKey(priv)
	pk, _ := ParsePublicKey(pub)
	oldM := []byte(`{"ManifestVersion": 1, "Expires": "2030-01-01T00:00:00Z"}`)
	newM := []byte(`{"ManifestVersion": 2, "Expires": "2030-01-01T00:00:00Z"}`)
	oldSig, _ := Sign(oldM, key)
	newSig, _ := Sign(newM, key)
	both := Join(newSig, oldSig)
	for _, m := range [][]byte{oldM, newM} {
		if _, err := Verify(m, both, []ed25519.PublicKey{pk}); err != nil {
			t.Errorf("Verify(%s) with both signatures: %v", m, err)
		}
	}
	if _, err := Verify(oldM, newSig, []ed25519.PublicKey{pk}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("the old manifest verified with only the new signature: %v", err)
	}
	if got := Join(newSig, Join(newSig, oldSig)); string(got) != string(both) {
		t.Errorf("Join repeats a signature:\n%s", got)
	}
	many := newSig
	for range MaxSignatures + 2 {
		s, _ := Sign(oldM, key)
		many = append(many, s...)
	}
	if _, err := Verify(newM, many, []ed25519.PublicKey{pk}); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a .sig of %d lines: %v", MaxSignatures+3, err)
	}
	if n := strings.Count(string(Join(newSig, many)), "\n"); n != MaxSignatures {
		t.Errorf("Join kept %d lines, want %d", n, MaxSignatures)
	}
	if _, err := Verify(newM, append(append([]byte{}, newSig...), "garbage\n"...), []ed25519.PublicKey{pk}); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a .sig with a bad line: %v", err)
	}
}

// FuzzVerify: any .sig file is either verified or refused with
// ErrBadSignature, never a panic; a file Join makes holds at most
// MaxSignatures lines.
func FuzzVerify(f *testing.F) {
	priv, pub, _ := GenerateKey()
	key, _ := ParsePrivateKey(priv)
	pk, _ := ParsePublicKey(pub)
	m := []byte(`{"ManifestVersion": 1, "Expires": "2030-01-01T00:00:00Z"}`)
	sig, _ := Sign(m, key)
	f.Add(sig)
	f.Add(Join(sig, sig))
	f.Add([]byte("AAAA\nBBBB"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Verify(m, data, []ed25519.PublicKey{pk}); err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify: %v", err)
		}
		joined := Join(sig, data)
		if n := strings.Count(string(joined), "\n"); n < 1 || n > MaxSignatures {
			t.Fatalf("Join made %d lines", n)
		}
		if _, err := Verify(m, joined, []ed25519.PublicKey{pk}); err != nil {
			t.Fatalf("a joined .sig led by a good signature does not verify: %v", err)
		}
	})
}
