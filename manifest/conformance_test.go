package manifest

import (
	"errors"
	"strings"
	"testing"
)

// The fixtures in testdata/ssm are the SSM Agent's own test manifests; these
// tests check the results its own tests expect of them.

func TestFixtureSampleManifest(t *testing.T) {
	for _, tt := range []struct{ fixture, bucket string }{
		{"head/sampleManifest.json", "some-agent-bucket"},
		{"v3.0.151.0/sampleManifest.json", "ssm-agent-alpha"},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			m := mustParse(t, loadFixture(t, tt.fixture))
			if m.SchemaVersion != "1.0" || len(m.Packages) != 2 {
				t.Fatalf("SchemaVersion %q, %d packages; want 1.0, 2", m.SchemaVersion, len(m.Packages))
			}
			agent, err := m.Package("amazon-ssm-agent")
			if err != nil {
				t.Fatal(err)
			}
			if len(agent.Files) != 4 {
				t.Errorf("amazon-ssm-agent has %d files, want 4", len(agent.Files))
			}
			f, err := agent.FileFor(Platform{Name: PlatformLinux, Arch: "amd64"})
			if err != nil {
				t.Fatal(err)
			}
			// HasVersion: 1.1.0.0 yes, 1.1.0.3 no.
			if _, err := f.Release(MustParseVersion("1.1.0.0")); err != nil {
				t.Errorf("1.1.0.0: %v", err)
			}
			if _, err := f.Release(MustParseVersion("1.1.0.3")); !errors.Is(err, ErrVersionNotFound) {
				t.Errorf("1.1.0.3: error %v, want ErrVersionNotFound", err)
			}
			// No status anywhere: every release reads as Active.
			for _, r := range f.Releases {
				if r.Status != StatusActive {
					t.Errorf("%s: status %q, want Active", r.Version, r.Status)
				}
			}
			// An unknown platform's file is not found, and the error names it.
			_, err = agent.FileFor(Platform{Name: "archlinux", Arch: "amd64"})
			if !errors.Is(err, ErrFileNotFound) || !strings.Contains(err.Error(), `"amazon-ssm-agent-archlinux-amd64.tar.gz"`) {
				t.Errorf("archlinux: error %v, want ErrFileNotFound naming the file", err)
			}
			// GetDownloadURLAndHash for 1.1.43.0.
			r, err := f.Release(MustParseVersion("1.1.43.0"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Checksum != "bc477b4ea68756e3a83b93445cc1bbdd5f9465b3334f7ecf58c69771956d5673" {
				t.Errorf("checksum of 1.1.43.0 = %s", r.Checksum)
			}
			u, err := m.URL("us-east-1", agent.Name, f.Name, r.Version)
			want := "https://s3.amazonaws.com/" + tt.bucket + "/amazon-ssm-agent/1.1.43.0/amazon-ssm-agent-linux-amd64.tar.gz"
			if err != nil || u != want {
				t.Errorf("URL = %q, %v; want %q", u, err, want)
			}
			if latest, _ := f.LatestActive(); latest.Version.String() != "1.1.43.0" {
				t.Errorf("LatestActive = %s, want 1.1.43.0", latest.Version)
			}
		})
	}
}

func TestFixtureErrorManifest(t *testing.T) {
	for _, fixture := range []string{"head/errorManifest.json", "v3.0.151.0/errorManifest.json"} {
		_, err := Parse(strings.NewReader(loadFixture(t, fixture)))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Path != "UriFormat" || !strings.Contains(err.Error(), "UriFormat: empty") {
			t.Errorf("%s: error %v, want an empty UriFormat reported", fixture, err)
		}
	}
}

func TestFixtureEC2ConfigRejected(t *testing.T) {
	for _, fixture := range []string{"ec2config/testManifest.json", "ec2config/invalidManifest.json"} {
		_, err := Parse(strings.NewReader(loadFixture(t, fixture)))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Path != "Packages[0].FileName" || !strings.Contains(err.Error(), "EC2Config manifest") {
			t.Errorf("%s: error %v, want it recognised as an EC2Config manifest", fixture, err)
		}
	}
}

// TestFixtureStatus covers sampleManifestWithStatus.json, both copies.
func TestFixtureStatus(t *testing.T) {
	type release struct{ version, status string }
	tests := []struct {
		fixture, pkg string
		platform     Platform
		current      string
		wantStatus   Status // of current; "" when an error is wanted
		wantErr      error
		wantAction   Action
		wantTarget   string
		latest       string // Latest, any status
		latestActive string
	}{
		// head, linux-amd64: one release of each status.
		{"head", "amazon-ssm-agent", Platform{"linux", "amd64"}, "1.1.0.0", "", ErrUnknownStatus, "", "", "2.2.96.0", "2.2.96.0"},
		{"head", "amazon-ssm-agent", Platform{"linux", "amd64"}, "1.2.251.0", StatusActive, nil, ActionNone, "", "2.2.96.0", "2.2.96.0"},
		{"head", "amazon-ssm-agent", Platform{"linux", "amd64"}, "2.0.796.0", StatusActive, nil, ActionNone, "", "2.2.96.0", "2.2.96.0"},
		{"head", "amazon-ssm-agent", Platform{"linux", "amd64"}, "2.0.805.0", StatusInactive, nil, ActionNone, "", "2.2.96.0", "2.2.96.0"},
		{"head", "amazon-ssm-agent", Platform{"linux", "amd64"}, "2.0.822.0", StatusDeprecated, nil, ActionUpdate, "2.2.96.0", "2.2.96.0", "2.2.96.0"},
		{"head", "amazon-ssm-agent", Platform{"linux", "amd64"}, "2.2.96.0", StatusActive, nil, ActionNone, "", "2.2.96.0", "2.2.96.0"},
		{"head", "amazon-ssm-agent", Platform{"linux", "amd64"}, "9.9", "", ErrVersionNotFound, "", "", "2.2.96.0", "2.2.96.0"},
		// head, linux-arm64: 2.2.96.0 is Deprecated and the latest Active is
		// older: SSM downgrades, Decide does not.
		{"head", "amazon-ssm-agent", Platform{"linux", "arm64"}, "2.2.96.0", StatusDeprecated, nil, ActionNone, "", "2.2.96.0", "2.0.796.0"},
		{"head", "amazon-ssm-agent", Platform{"linux", "arm64"}, "2.0.822.0", StatusDeprecated, nil, ActionNone, "", "2.2.96.0", "2.0.796.0"},
		{"head", "amazon-ssm-agent", Platform{"ubuntu", "amd64"}, "2.2.546.0", StatusDeprecated, nil, ActionNone, "", "2.2.546.0", "2.2.392.0"},
		{"head", "amazon-ssm-agent", Platform{"windows", "amd64"}, "1.2.252.0", "", ErrUnknownStatus, "", "", "2.2.64.0", "2.2.45.0"},
		{"head", "amazon-ssm-agent", Platform{"windows", "amd64"}, "1.2.290.0", StatusActive, nil, ActionNone, "", "2.2.64.0", "2.2.45.0"},
		{"head", "amazon-ssm-agent", Platform{"darwin", "amd64"}, "1.2.290.0", "", ErrFileNotFound, "", "", "", ""},
		// head, updater.
		{"head", "amazon-ssm-agent-updater", Platform{"linux", "amd64"}, "2.2.64.0", StatusDeprecated, nil, ActionUpdate, "2.2.69.0", "2.2.69.0", "2.2.69.0"},
		{"head", "amazon-ssm-agent-updater", Platform{"ubuntu", "amd64"}, "2.2.103.0", StatusDeprecated, nil, ActionNone, "", "2.2.103.0", "2.2.82.0"},
		{"head", "no-such-package", Platform{"linux", "amd64"}, "1.0", "", ErrPackageNotFound, "", "", "", ""},
		// 3.0.151.0: no 2.2.96.0, so Deprecated 2.0.822.0 finds only an older Active.
		{"v3.0.151.0", "amazon-ssm-agent", Platform{"linux", "amd64"}, "2.0.822.0", StatusDeprecated, nil, ActionNone, "", "2.0.822.0", "2.0.796.0"},
		{"v3.0.151.0", "amazon-ssm-agent", Platform{"linux", "amd64"}, "1.1.0.0", "", ErrUnknownStatus, "", "", "2.0.822.0", "2.0.796.0"},
		{"v3.0.151.0", "amazon-ssm-agent", Platform{"linux", "arm64"}, "2.0.822.0", "", ErrFileNotFound, "", "", "", ""},
		{"v3.0.151.0", "amazon-ssm-agent-updater", Platform{"linux", "amd64"}, "2.2.64.0", StatusDeprecated, nil, ActionNone, "", "2.2.64.0", "2.2.45.0"},
		{"v3.0.151.0", "amazon-ssm-agent-updater", Platform{"windows", "amd64"}, "2.2.120.0", StatusDeprecated, nil, ActionNone, "", "2.2.120.0", "2.2.93.0"},
	}
	manifests := map[string]*Manifest{
		"head":       mustParse(t, loadFixture(t, "head/sampleManifestWithStatus.json")),
		"v3.0.151.0": mustParse(t, loadFixture(t, "v3.0.151.0/sampleManifestWithStatus.json")),
	}
	for _, tt := range tests {
		name := tt.fixture + "/" + tt.pkg + "/" + tt.platform.String() + "/" + tt.current
		t.Run(name, func(t *testing.T) {
			m := manifests[tt.fixture]
			d, err := m.Decide(Query{Package: tt.pkg, Platform: tt.platform, Current: MustParseVersion(tt.current)})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decide error = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				if d.Current.Status != tt.wantStatus || d.Current.Version.String() != tt.current {
					t.Errorf("Current = %s %s, want %s %s", d.Current.Version, d.Current.Status, tt.current, tt.wantStatus)
				}
				if d.Action != tt.wantAction {
					t.Errorf("Action = %s, want %s (%s)", d.Action, tt.wantAction, d.Reason)
				}
				target := ""
				if d.Target != nil {
					target = d.Target.Version.String()
				}
				if target != tt.wantTarget {
					t.Errorf("Target = %q, want %q", target, tt.wantTarget)
				}
				if d.File != tt.platform.FileName(tt.pkg) || d.Package != tt.pkg || d.Reason == "" {
					t.Errorf("Decision names %q / %q, reason %q", d.Package, d.File, d.Reason)
				}
			}
			if tt.latest == "" {
				return
			}
			f := mustFile(t, m, tt.pkg, tt.platform.FileName(tt.pkg))
			if r, ok := f.Latest(); !ok || r.Version.String() != tt.latest {
				t.Errorf("Latest = %s, want %s", r.Version, tt.latest)
			}
			if r, ok := f.LatestActive(); !ok || r.Version.String() != tt.latestActive {
				t.Errorf("LatestActive = %s, want %s", r.Version, tt.latestActive)
			}
		})
	}

	// The updater's latest Active release on linux-amd64, with its checksum.
	f := mustFile(t, manifests["head"], "amazon-ssm-agent-updater", "amazon-ssm-agent-updater-linux-amd64.tar.gz")
	r, _ := f.LatestActive()
	if r.Version.String() != "2.2.69.0" || r.Checksum != "3127c6c149711c3a3ea53aed7d2167bfc9049d9388e36d19f2f400a6fdeac213" {
		t.Errorf("updater LatestActive = %s %s", r.Version, r.Checksum)
	}
	// An unknown status is kept as it is.
	f = mustFile(t, manifests["head"], "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz")
	if r, _ := f.Release(MustParseVersion("1.1.0.0")); r.Status != "Foo" || r.Status.Known() {
		t.Errorf("status of 1.1.0.0 = %q (known %v), want Foo kept and unknown", r.Status, r.Status.Known())
	}
}
