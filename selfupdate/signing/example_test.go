package signing_test

import (
	"crypto/ed25519"
	"fmt"

	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

func Example() {
	privPEM, pubPEM, err := signing.GenerateKey() // keep privPEM offline
	if err != nil {
		panic(err)
	}
	key, _ := signing.ParsePrivateKey(privPEM)
	pub, _ := signing.ParsePublicKey(pubPEM)
	manifest := []byte(`{"SchemaVersion": "1.0", "ManifestVersion": 7, "Expires": "2030-01-01T00:00:00Z", "Packages": []}`)
	sig, err := signing.Sign(manifest, key) // published as <manifest URL>.sig
	if err != nil {
		panic(err)
	}
	f, err := signing.Verify(manifest, sig, []ed25519.PublicKey{pub})
	fmt.Println(f.ManifestVersion, f.Expires.Year(), err)
	_, err = signing.Verify(append(manifest, ' '), sig, []ed25519.PublicKey{pub})
	fmt.Println(err)
	// Output:
	// 7 2030 <nil>
	// manifest signature check failed: not signed by any of the 1 configured keys
}
