package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

const keygenSynopsis = `[--out NAME]

Makes an ed25519 key pair for signing manifests: NAME.key, the private key
(PKCS #8 PEM, mode 0600: keep it off the hosts), and NAME.pub, the public key
(PKIX PEM) that agents are configured with. Existing files are not replaced.

Flags:`

func runKeygen(s streams, g *globals, args []string) int {
	const name = "keygen"
	fs := newFlagSet(s, g, name, keygenSynopsis)
	out := fs.String("out", "manifest-signing", "the `NAME` of the key files, without .key and .pub")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	priv, pub, err := signing.GenerateKey()
	if err != nil {
		return failure(s, name, err)
	}
	keyPath, pubPath := *out+".key", *out+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return failure(s, name, fmt.Errorf("%s exists; not replacing it", p))
		}
	}
	if err := writeNew(keyPath, priv, 0o600); err != nil {
		return failure(s, name, err)
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		return failure(s, name, err)
	}
	fmt.Fprintf(s.stdout, "private key: %s (keep it secret)\npublic key:  %s\n", keyPath, pubPath)
	return exitOK
}

// writeNew creates path with data; it never replaces a file.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

const manifestSignSynopsis = `--key PATH --manifest PATH [--out PATH]

Signs a manifest with a private key from ssm-agent keygen and writes the
detached signature (base64) to PATH.sig next to it, or to --out. The manifest
must carry "ManifestVersion" (a number that grows with every release of the
manifest) and "Expires" (an RFC 3339 time); agents refuse a manifest whose
version went down or whose time has passed.

Flags:`

func runManifestSign(s streams, g *globals, args []string) int {
	const name = "manifest sign"
	fs := newFlagSet(s, g, name, manifestSignSynopsis)
	keyPath := fs.String("key", "", "the private key `PATH`; required")
	manifestPath := fs.String("manifest", "", "the manifest `PATH`; required")
	out := fs.String("out", "", "where to write the signature (default: the manifest's PATH.sig)")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	if *keyPath == "" || *manifestPath == "" {
		return usageError(fs, "--key and --manifest are required")
	}
	if *out == "" {
		*out = *manifestPath + ".sig"
	}
	key, err := readPrivateKey(*keyPath)
	if err != nil {
		return failure(s, name, err)
	}
	data, err := os.ReadFile(*manifestPath)
	if err != nil {
		return failure(s, name, err)
	}
	if _, err := parseManifestBytes(data); err != nil {
		return failure(s, name, fmt.Errorf("%s: %w", *manifestPath, err))
	}
	sig, err := signing.Sign(data, key)
	if err != nil {
		return failure(s, name, fmt.Errorf("%s: %w", *manifestPath, err))
	}
	if err := os.WriteFile(*out, sig, 0o644); err != nil {
		return failure(s, name, err)
	}
	fmt.Fprintf(s.stdout, "signature: %s\n", *out)
	return exitOK
}

// parseManifestBytes checks that data is a valid manifest.
func parseManifestBytes(data []byte) (*manifest.Manifest, error) {
	return manifest.Parse(bytes.NewReader(data))
}
