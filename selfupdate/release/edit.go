package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// New returns an empty manifest (schema 1.0) whose packages are at
// uriFormat (see manifest.Manifest.URL).
func New(uriFormat string) *manifest.Manifest {
	return &manifest.Manifest{SchemaVersion: "1.0", URIFormat: uriFormat}
}

// Add is one new release of a package: a version added for every file.
type Add struct {
	// Package is the manifest package, such as amazon-ssm-agent.
	Package string
	// Version is the new version.
	Version manifest.Version
	// Files are the paths of the package's files, one per platform; each
	// file's base name is its manifest file name, such as
	// amazon-ssm-agent-linux-amd64.tar.gz. A symbolic link or anything but
	// a regular file is refused (a file with other hard links is fine: it
	// is only read), and so is a name that PackageKey refuses (a ? or #, a
	// backslash…), which could not be published.
	Files []string
	// DeprecateOlder marks Deprecated every Active release of the package
	// older than Version, so that agents on them update.
	DeprecateOlder bool
	// Rollout is the release's rollout plan; nil opens it to every agent
	// at once. It is checked by manifest.Rollout.Check at Apply's now.
	Rollout *manifest.Rollout
}

// Apply adds the release to m: for every file its SHA-256, read as a
// stream, as an Active release of Version with the Rollout. It changes m
// only when every file could be read and every rule holds (a version
// already in a file, two files of one name, a bad rollout are errors that
// name the field).
func (a Add) Apply(m *manifest.Manifest, now time.Time) error {
	switch {
	case a.Package == "":
		return errors.New("release: add: Package is empty")
	case a.Version.IsZero():
		return errors.New("release: add: Version is empty")
	case len(a.Files) == 0:
		return fmt.Errorf("release: add %s %s: Files is empty: give at least one package file", a.Package, a.Version)
	}
	if a.Rollout != nil {
		if err := a.Rollout.Check(now); err != nil {
			return fmt.Errorf("release: add %s %s: %w", a.Package, a.Version, err)
		}
	}
	type file struct{ name, sum string }
	files := make([]file, 0, len(a.Files))
	seen := map[string]bool{}
	for _, path := range a.Files {
		name := filepath.Base(path)
		if seen[name] {
			return fmt.Errorf("release: add %s %s: Files: two files named %s", a.Package, a.Version, name)
		}
		seen[name] = true
		if _, err := PackageKey(m, keyRegion, a.Package, name, a.Version); err != nil {
			return fmt.Errorf("release: add %s %s: Files: %s cannot be published: %w", a.Package, a.Version, name, err)
		}
		sum, err := FileChecksum(path)
		if err != nil {
			return fmt.Errorf("release: add %s %s: %w", a.Package, a.Version, err)
		}
		files = append(files, file{name, sum})
	}
	// Edit a copy, so that an error half-way leaves m as it was.
	work, err := clone(m)
	if err != nil {
		return err
	}
	for _, f := range files {
		r := manifest.Release{Version: a.Version, Checksum: f.sum, Status: manifest.StatusActive}
		if a.Rollout != nil {
			ro := *a.Rollout
			r.Rollout = &ro
		}
		if err := work.AddRelease(a.Package, f.name, r); err != nil {
			return fmt.Errorf("release: %w", err)
		}
	}
	if a.DeprecateOlder {
		work.DeprecateBefore(a.Package, a.Version)
	}
	*m = *work
	return nil
}

// keyRegion stands in for {Region} when Apply checks a package's key
// (the region does not change whether a file name can be published).
const keyRegion = "us-east-1"

// clone returns a deep copy of m. Its indexes are rebuilt by the first
// edit; until then it answers queries by scanning.
func clone(m *manifest.Manifest) (*manifest.Manifest, error) {
	c := &manifest.Manifest{SchemaVersion: m.SchemaVersion, ManifestVersion: m.ManifestVersion, Expires: m.Expires,
		URIFormat: m.URIFormat, Packages: make([]manifest.Package, len(m.Packages))}
	for i, p := range m.Packages {
		cp := manifest.Package{Name: p.Name, Files: make([]manifest.File, len(p.Files))}
		for j, f := range p.Files {
			cf := manifest.File{Name: f.Name, Releases: append([]manifest.Release(nil), f.Releases...)}
			for k := range cf.Releases {
				if ro := cf.Releases[k].Rollout; ro != nil {
					cro := *ro
					cro.Waves = append([]manifest.Wave(nil), ro.Waves...)
					cro.Groups = append([]manifest.Group(nil), ro.Groups...)
					cf.Releases[k].Rollout = &cro
				}
			}
			cp.Files[j] = cf
		}
		c.Packages[i] = cp
	}
	return c, nil
}

// Pause pauses (paused true) or resumes the rollout of version v of pkg
// in every file, and returns how many releases changed. Pausing a release
// without a rollout gives it one that only pauses it.
func Pause(m *manifest.Manifest, pkg string, v manifest.Version, paused bool) (int, error) {
	n, err := m.SetPaused(pkg, v, paused)
	if err != nil {
		return 0, fmt.Errorf("release: %w", err)
	}
	return n, nil
}

// MinExpiry is how far ahead of now a manifest's Expires must be for
// Seal to sign it and Publish to publish it: agents refuse a manifest
// once it expires, so one that would expire so soon is a mistake.
const MinExpiry = time.Hour

// Seal makes m ready to publish: its ManifestVersion raised by one, its
// Expires set to expires (agents refuse the manifest from then on; it
// must be more than MinExpiry from now), encoded, read back (so that a
// manifest that does not parse is never signed), and signed with key.
// It returns the manifest's bytes and the detached signature (base64, the
// <manifest>.sig file), and leaves m with the new version and expiry.
func Seal(m *manifest.Manifest, key ed25519.PrivateKey, expires time.Time) (data, sig []byte, err error) {
	if expires.IsZero() {
		return nil, nil, errors.New("release: seal: Expires is zero")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, nil, errors.New("release: seal: not an ed25519 private key")
	}
	work, err := clone(m)
	if err != nil {
		return nil, nil, err
	}
	work.ManifestVersion = m.ManifestVersion + 1
	work.Expires = expires.UTC().Truncate(time.Second)
	if min := time.Now().Add(MinExpiry); !work.Expires.After(min) {
		return nil, nil, fmt.Errorf("release: seal: Expires %s is not more than %v from now: agents would refuse the manifest as stale; give a later expiry", work.Expires.Format(time.RFC3339), MinExpiry)
	}
	if data, err = work.Marshal(); err != nil {
		return nil, nil, fmt.Errorf("release: seal: %w", err)
	}
	if _, err := manifest.Parse(bytes.NewReader(data)); err != nil {
		return nil, nil, fmt.Errorf("release: seal: the encoded manifest does not read back, not signed: %w", err)
	}
	if sig, err = signing.Sign(data, key); err != nil {
		return nil, nil, fmt.Errorf("release: seal: %w", err)
	}
	if _, err := signing.Verify(data, sig, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err != nil {
		return nil, nil, fmt.Errorf("release: seal: the signature does not verify: %w", err)
	}
	*m = *work
	return data, sig, nil
}

// FileChecksum returns the SHA-256 of the regular file at path, in
// lower-case hexadecimal, reading it as a stream. A symbolic link at path
// is refused, not followed, and so is anything but a regular file; a file
// with other hard links (cp -al, a build cache) is read like any other.
func FileChecksum(path string) (string, error) {
	f, err := openInput(path)
	if err != nil {
		return "", fmt.Errorf("package file %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("package file %s: %w", path, err)
	}
	return sumHex(h), nil
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
