package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidRegion is wrapped by the errors about a malformed region name.
var ErrInvalidRegion = errors.New("invalid region")

// The placeholders of a manifest's URIFormat.
const (
	placeholderRegion         = "{Region}"
	placeholderPackageName    = "{PackageName}"
	placeholderPackageVersion = "{PackageVersion}"
	placeholderFileName       = "{FileName}"
)

// URL returns the download URL of version v of a package's file, expanding
// the placeholders of m.URIFormat: {Region}, {PackageName},
// {PackageVersion} and {FileName}. The package and file names are escaped
// as URL path segments. region is needed, and checked, only when the
// template contains {Region}.
//
// URL does not look the release up; use File.Release for that.
func (m *Manifest) URL(region, packageName, fileName string, v Version) (string, error) {
	if v.IsZero() {
		return "", fmt.Errorf("manifest: URL of %s: %w: empty", fileName, ErrInvalidVersion)
	}
	if strings.Contains(m.URIFormat, placeholderRegion) {
		if err := CheckRegion(region); err != nil {
			return "", fmt.Errorf("manifest: URL of %s: %w", fileName, err)
		}
	}
	u, err := expand(m.URIFormat, func(name string) (string, bool) {
		switch name {
		case placeholderRegion:
			return region, true
		case placeholderPackageName:
			return url.PathEscape(packageName), true
		case placeholderPackageVersion:
			return v.String(), true
		case placeholderFileName:
			return url.PathEscape(fileName), true
		}
		return "", false
	})
	if err != nil {
		return "", fmt.Errorf("manifest: UriFormat %q: %w", m.URIFormat, err)
	}
	return u, nil
}

// checkTemplate reports an unknown or unterminated placeholder in format.
func checkTemplate(format string) error {
	_, err := expand(format, func(name string) (string, bool) {
		switch name {
		case placeholderRegion, placeholderPackageName, placeholderPackageVersion, placeholderFileName:
			return "", true
		}
		return "", false
	})
	return err
}

// expand replaces every {Name} in format with value("{Name}").
func expand(format string, value func(placeholder string) (string, bool)) (string, error) {
	var b strings.Builder
	b.Grow(len(format) + 64)
	rest := format
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated placeholder %q", rest[open:])
		}
		name := rest[open : open+end+1]
		v, ok := value(name)
		if !ok {
			return "", fmt.Errorf("unknown placeholder %s (want {Region}, {PackageName}, {PackageVersion} or {FileName})", name)
		}
		b.WriteString(rest[:open])
		b.WriteString(v)
		rest = rest[open+end+1:]
	}
}

// CheckRegion reports whether region is a well-formed AWS region name:
// 1 to 100 letters, digits and hyphens. The error wraps ErrInvalidRegion.
func CheckRegion(region string) error {
	if region == "" {
		return fmt.Errorf("%w: empty", ErrInvalidRegion)
	}
	if len(region) > 100 {
		return fmt.Errorf("%w %.20q…: longer than 100 characters", ErrInvalidRegion, region)
	}
	for i := 0; i < len(region); i++ {
		c := region[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w %q: character %q is not a letter, digit or hyphen", ErrInvalidRegion, region, c)
		}
	}
	return nil
}

// partitionDomains maps region-name prefixes to the domain of their
// partition; regions matching none are in the aws partition (amazonaws.com),
// GovCloud included.
var partitionDomains = []struct{ prefix, domain string }{
	{"cn-", "amazonaws.com.cn"},
	{"us-isob-", "sc2s.sgov.gov"}, // before us-iso-, of which it is an extension
	{"us-isof-", "csp.hci.ic.gov"},
	{"us-iso-", "c2s.ic.gov"},
	{"eu-isoe-", "cloud.adc-e.uk"},
	{"eusc-de-", "amazonaws.eu"},
}

// ServiceDomain returns the domain of AWS endpoints in region's partition,
// such as amazonaws.com, or amazonaws.com.cn for cn-north-1.
func ServiceDomain(region string) string {
	for _, p := range partitionDomains {
		if strings.HasPrefix(region, p.prefix) {
			return p.domain
		}
	}
	return "amazonaws.com"
}

// ManifestURL returns the URL of the SSM agent manifest for region:
// https://s3.{region}.{domain}/amazon-ssm-{region}/ssm-agent-manifest.json.
// domain overrides the partition's domain when not empty, like the agent's
// Agent.ServiceDomain setting.
func ManifestURL(region, domain string) (string, error) {
	if err := CheckRegion(region); err != nil {
		return "", fmt.Errorf("manifest: manifest URL: %w", err)
	}
	if domain == "" {
		domain = ServiceDomain(region)
	} else if !isDomain(domain) {
		return "", fmt.Errorf("manifest: manifest URL: invalid service domain %q (want a DNS name such as amazonaws.com)", domain)
	}
	return "https://s3." + region + "." + domain + "/amazon-ssm-" + region + "/ssm-agent-manifest.json", nil
}

// isDomain reports whether s is a DNS name: dot-separated labels of
// letters, digits and inner hyphens.
func isDomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
