package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	m := &Manifest{URIFormat: "https://s3.{Region}.amazonaws.com/amazon-ssm-{Region}/{PackageName}/{PackageVersion}/{FileName}"}
	v := MustParseVersion("3.0.0151.0")
	got, err := m.URL("eu-west-1", "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz", v)
	want := "https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/amazon-ssm-agent/3.0.0151.0/amazon-ssm-agent-linux-amd64.tar.gz"
	if err != nil || got != want {
		t.Errorf("URL = %q, %v; want %q (the version as the manifest spells it)", got, err, want)
	}

	// Names are escaped as path segments.
	got, err = m.URL("us-east-1", "my pkg", "a?b#c.zip", v)
	if err != nil || !strings.HasSuffix(got, "/my%20pkg/3.0.0151.0/a%3Fb%23c.zip") {
		t.Errorf("URL with odd names = %q, %v", got, err)
	}

	for _, region := range []string{"", "us-east-1/..", "us east", strings.Repeat("a", 101)} {
		if _, err := m.URL(region, "p", "f", v); !errors.Is(err, ErrInvalidRegion) {
			t.Errorf("URL with region %q: error %v, want ErrInvalidRegion", region, err)
		}
	}
	if _, err := m.URL("us-east-1", "p", "f", Version{}); !errors.Is(err, ErrInvalidVersion) {
		t.Errorf("URL of the zero version: error %v, want ErrInvalidVersion", err)
	}

	// Without {Region} the region is not needed.
	noRegion := &Manifest{URIFormat: "https://mirror.example/{PackageName}/{PackageVersion}/{FileName}"}
	if got, err := noRegion.URL("", "p", "f.tar.gz", v); err != nil || got != "https://mirror.example/p/3.0.0151.0/f.tar.gz" {
		t.Errorf("URL without {Region} = %q, %v", got, err)
	}

	for _, format := range []string{"https://x/{PacakgeVersion}/{FileName}", "https://x/{FileName", "https://x/{region}"} {
		bad := &Manifest{URIFormat: format}
		_, err := bad.URL("us-east-1", "p", "f", v)
		if err == nil || !strings.Contains(err.Error(), "placeholder") || !strings.Contains(err.Error(), format) {
			t.Errorf("URIFormat %q: error %v, want one naming the template and the placeholder", format, err)
		}
	}
}

func TestManifestURL(t *testing.T) {
	tests := []struct{ region, domain, want string }{
		{"us-east-1", "", "https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/ssm-agent-manifest.json"},
		{"us-gov-west-1", "", "https://s3.us-gov-west-1.amazonaws.com/amazon-ssm-us-gov-west-1/ssm-agent-manifest.json"},
		{"cn-north-1", "", "https://s3.cn-north-1.amazonaws.com.cn/amazon-ssm-cn-north-1/ssm-agent-manifest.json"},
		{"us-iso-east-1", "", "https://s3.us-iso-east-1.c2s.ic.gov/amazon-ssm-us-iso-east-1/ssm-agent-manifest.json"},
		{"us-isob-east-1", "", "https://s3.us-isob-east-1.sc2s.sgov.gov/amazon-ssm-us-isob-east-1/ssm-agent-manifest.json"},
		{"us-isof-south-1", "", "https://s3.us-isof-south-1.csp.hci.ic.gov/amazon-ssm-us-isof-south-1/ssm-agent-manifest.json"},
		{"eu-isoe-west-1", "", "https://s3.eu-isoe-west-1.cloud.adc-e.uk/amazon-ssm-eu-isoe-west-1/ssm-agent-manifest.json"},
		{"eusc-de-east-1", "", "https://s3.eusc-de-east-1.amazonaws.eu/amazon-ssm-eusc-de-east-1/ssm-agent-manifest.json"},
		{"us-east-1", "example.internal", "https://s3.us-east-1.example.internal/amazon-ssm-us-east-1/ssm-agent-manifest.json"},
		{"cn-north-1", "amazonaws.com", "https://s3.cn-north-1.amazonaws.com/amazon-ssm-cn-north-1/ssm-agent-manifest.json"},
	}
	for _, tt := range tests {
		got, err := ManifestURL(tt.region, tt.domain)
		if err != nil || got != tt.want {
			t.Errorf("ManifestURL(%q, %q) = %q, %v; want %q", tt.region, tt.domain, got, err, tt.want)
		}
	}
	for _, region := range []string{"", "us_east_1", "us-east-1.evil.com/x", strings.Repeat("a", 101)} {
		if _, err := ManifestURL(region, ""); !errors.Is(err, ErrInvalidRegion) {
			t.Errorf("ManifestURL(%q) error = %v, want ErrInvalidRegion", region, err)
		}
	}
	if _, err := ManifestURL(strings.Repeat("a", 100), ""); err != nil {
		t.Errorf("a 100-character region: %v", err)
	}
	for _, domain := range []string{"evil.com/x", ".com", "a b", "x@y"} {
		if _, err := ManifestURL("us-east-1", domain); err == nil || !strings.Contains(err.Error(), "service domain") {
			t.Errorf("ManifestURL with domain %q: error %v, want an invalid service domain", domain, err)
		}
	}
}
