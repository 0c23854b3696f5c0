package release

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ssmkit/ssmkit/manifest"
)

// DefaultManifestName is the manifest's key under a target's root; the
// signature is at the same key with .sig added.
const DefaultManifestName = "ssm-agent-manifest.json"

// Base returns the fixed part of a UriFormat: its text before the first
// placeholder, up to and including the last slash there, such as
// "s3://bucket/agent/" for s3://bucket/agent/{PackageName}/{PackageVersion}/{FileName}.
// A target's root is published at Base: the manifest beside the packages.
func Base(uriFormat string) string {
	fixed := uriFormat
	if i := strings.IndexByte(fixed, '{'); i >= 0 {
		fixed = fixed[:i]
	}
	return fixed[:strings.LastIndexByte(fixed, '/')+1]
}

// PackageKey returns where version v of a package's file goes under a
// target's root: the URL that m.URL gives agents for it (region fills
// {Region}) with Base(m.URIFormat) cut off and its escapes undone, so that
// an agent asking Base + key gets what was published at key. For
// s3://bucket/agent/{PackageName}/{PackageVersion}/{FileName} that is
// {PackageName}/{PackageVersion}/{FileName}. A key with an empty, "." or
// ".." segment, a backslash or a NUL is refused.
func PackageKey(m *manifest.Manifest, region, pkg, file string, v manifest.Version) (string, error) {
	u, err := m.URL(region, pkg, file, v)
	if err != nil {
		return "", fmt.Errorf("release: %w", err)
	}
	base := Base(m.URIFormat)
	if base == "" || !strings.HasPrefix(u, base) {
		return "", fmt.Errorf("release: UriFormat %q has no directory before its placeholders (want a URL such as s3://bucket/prefix/{PackageName}/{PackageVersion}/{FileName})", m.URIFormat)
	}
	key, err := url.PathUnescape(strings.TrimPrefix(u, base))
	if err != nil {
		return "", fmt.Errorf("release: package URL %s: %w", u, err)
	}
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("release: package URL %s: key %q: %w", u, key, err)
	}
	return key, nil
}

// checkKey refuses a key that could name something outside the root, or
// a different object on another store.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty")
	}
	if strings.ContainsAny(key, "\\\x00?#") {
		return fmt.Errorf("holds a backslash, NUL, ? or #")
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("has an empty, . or .. segment")
		}
	}
	return nil
}
