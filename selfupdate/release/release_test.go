package release

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

func TestAddAndSeal(t *testing.T) {
	key, pub := testKey(t)
	m := New(testFormat)
	now := time.Now()
	d1, s1, _ := addRelease(t, m, key, "1.0.0", nil)
	f, err := signing.Verify(d1, s1, nil)
	if err == nil || f.ManifestVersion != 0 {
		t.Fatal("verified with no keys")
	}
	ro := &manifest.Rollout{Start: now, Waves: []manifest.Wave{{Percent: 1}, {Percent: 10, AfterHours: 24}, {Percent: 100, AfterHours: 72}}}
	d2, s2, _ := addRelease(t, m, key, "2.0.0", ro)
	f, err = signing.Verify(d2, s2, []ed25519.PublicKey{pub})
	if err != nil || f.ManifestVersion != 2 || f.Expires.Before(now) {
		t.Fatalf("second seal: %+v, %v", f, err)
	}
	pm, err := manifest.Parse(strings.NewReader(string(d2)))
	if err != nil {
		t.Fatal(err)
	}
	file, _ := pm.Packages[0].File(testFile)
	if got := file.Releases; len(got) != 2 || got[0].Status != manifest.StatusDeprecated || got[1].Status != manifest.StatusActive ||
		got[1].Rollout == nil || len(got[1].Rollout.Waves) != 3 || len(got[1].Checksum) != 64 {
		t.Errorf("releases %+v", got)
	}
	// Pause and resume re-seal with a higher version each time.
	if n, err := Pause(m, testPackage, manifest.MustParseVersion("2.0.0"), true); n != 1 || err != nil {
		t.Fatalf("Pause = %d, %v", n, err)
	}
	d3, s3, err := Seal(m, key, now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f, err = signing.Verify(d3, s3, []ed25519.PublicKey{pub})
	if err != nil || f.ManifestVersion != 3 || !strings.Contains(string(d3), `"Paused": true`) {
		t.Errorf("paused seal: %+v, %v\n%s", f, err, d3)
	}
	if _, err := Pause(m, testPackage, manifest.MustParseVersion("9.0.0"), true); !errors.Is(err, manifest.ErrVersionNotFound) {
		t.Errorf("pause of a missing version: %v", err)
	}
}

// Bad input is refused with an error naming the field, and leaves the
// manifest as it was.
func TestAddRefuses(t *testing.T) {
	key, _ := testKey(t)
	m := New(testFormat)
	addRelease(t, m, key, "1.0.0", nil)
	before, _ := m.Marshal()
	dir := t.TempDir()
	good := writePackage(t, dir, "2.0.0")
	link := filepath.Join(dir, "link.tar.gz")
	os.Symlink(good, link)
	other := filepath.Join(t.TempDir(), testFile)
	os.WriteFile(other, []byte("x"), 0o644)
	now := time.Now()
	v2 := manifest.MustParseVersion("2.0.0")
	for _, tc := range []struct {
		name string
		add  Add
		want string
	}{
		{"no files", Add{Package: testPackage, Version: v2}, "Files"},
		{"no package", Add{Version: v2, Files: []string{good}}, "Package"},
		{"duplicate version", Add{Package: testPackage, Version: manifest.MustParseVersion("1.0.0"), Files: []string{good}}, "already"},
		{"two files of a name", Add{Package: testPackage, Version: v2, Files: []string{good, other}}, "two files named"},
		{"a symbolic link", Add{Package: testPackage, Version: v2, Files: []string{link}}, "symbolic link"},
		{"a missing file", Add{Package: testPackage, Version: v2, Files: []string{filepath.Join(dir, "nope.tar.gz")}}, "nope.tar.gz"},
		{"shrinking waves", Add{Package: testPackage, Version: v2, Files: []string{good},
			Rollout: &manifest.Rollout{Start: now, Waves: []manifest.Wave{{Percent: 10}, {Percent: 5, AfterHours: 1}}}}, "Waves[1].Percent"},
		{"a percent over 100", Add{Package: testPackage, Version: v2, Files: []string{good},
			Rollout: &manifest.Rollout{Start: now, Waves: []manifest.Wave{{Percent: 120}}}}, "Waves[0].Percent"},
		{"a start far ahead", Add{Package: testPackage, Version: v2, Files: []string{good},
			Rollout: &manifest.Rollout{Start: now.Add(400 * 24 * time.Hour), Waves: []manifest.Wave{{Percent: 100}}}}, "Start"},
	} {
		err := tc.add.Apply(m, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
		if after, _ := m.Marshal(); string(after) != string(before) {
			t.Errorf("%s: the manifest changed", tc.name)
		}
	}
	if _, _, err := Seal(m, key, time.Time{}); err == nil {
		t.Error("sealed without an expiry")
	}
}

func TestPackageKey(t *testing.T) {
	v := manifest.MustParseVersion("3.2.0.0")
	for _, tc := range []struct{ format, region, want, base string }{
		{testFormat, "", "amazon-ssm-agent/3.2.0.0/f.tar.gz", "s3://releases/agent/"},
		{"https://cdn.example.com/{PackageName}/{PackageVersion}/{FileName}", "", "amazon-ssm-agent/3.2.0.0/f.tar.gz", "https://cdn.example.com/"},
		{"https://cdn.example.com/a/b-{PackageVersion}/{FileName}", "", "b-3.2.0.0/f.tar.gz", "https://cdn.example.com/a/"},
		{"https://x/{Region}/{PackageVersion}/{FileName}", "eu-west-1", "eu-west-1/3.2.0.0/f.tar.gz", "https://x/"},
	} {
		m := New(tc.format)
		got, err := PackageKey(m, tc.region, testPackage, "f.tar.gz", v)
		if err != nil || got != tc.want || Base(tc.format) != tc.base {
			t.Errorf("%s: %q, %v (base %q); want %q at %q", tc.format, got, err, Base(tc.format), tc.want, tc.base)
		}
	}
	for _, format := range []string{"{PackageName}/{FileName}", "https://x/{PackageName}/../{FileName}", "https://x/{PackageName}//{FileName}"} {
		if k, err := PackageKey(New(format), "", testPackage, "f", v); err == nil {
			t.Errorf("%s: key %q", format, k)
		}
	}
	tgt := &S3Target{Bucket: testBucket, Prefix: testPrefix}
	if err := tgt.CheckBase("s3://releases/other/"); err == nil || !strings.Contains(err.Error(), "s3://releases/agent/") {
		t.Errorf("a UriFormat elsewhere in the bucket: %v", err)
	}
	if err := tgt.CheckBase("https://cdn.example.com/"); err != nil {
		t.Errorf("https base: %v", err)
	}
}

func TestParseS3URL(t *testing.T) {
	for in, want := range map[string]string{"s3://b/p/q/": "b p/q", "s3://b": "b ", "s3://b/": "b "} {
		b, p, err := ParseS3URL(in)
		if err != nil || b+" "+p != want {
			t.Errorf("%s: %q %q %v", in, b, p, err)
		}
	}
	for _, in := range []string{"b/p", "s3:///p", "s3://b/../x", "https://b/p", "s3://b{/p"} {
		if _, _, err := ParseS3URL(in); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{"s3://b/p", "s3://b/p/../q", "s3://b//p", "s3://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, p, err := ParseS3URL(s)
		if err != nil {
			return
		}
		if b == "" || (p != "" && checkKey(p) != nil) {
			t.Errorf("%q: bucket %q prefix %q", s, b, p)
		}
		tgt := &S3Target{Bucket: b, Prefix: p}
		if err := tgt.CheckBase(tgt.String()); err != nil {
			t.Errorf("%q: its own base refused: %v", s, err)
		}
	})
}

func TestRule(t *testing.T) {
	r := Rule{Threshold: 0.2, MinResults: 20}
	for _, tc := range []struct {
		c    Counts
		halt bool
	}{{Counts{15, 4}, false}, {Counts{16, 4}, true}, {Counts{17, 3}, false}, {Counts{0, 19}, false}, {Counts{0, 20}, true}} {
		if r.Halts(tc.c) != tc.halt {
			t.Errorf("%+v: halts %v", tc.c, !tc.halt)
		}
	}
	for _, bad := range []Rule{{0, 1}, {1.5, 1}, {0.5, 0}, {-1, 5}} {
		if err := bad.Check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

var _ = context.Background

func FuzzPackageKey(f *testing.F) {
	f.Add(testFormat, testFile)
	f.Add("https://x/{Region}/{PackageName}/{FileName}", "a b%2F..")
	f.Add("s3://b/{FileName}", "..")
	f.Fuzz(func(t *testing.T, format, file string) {
		key, err := PackageKey(New(format), "us-east-1", testPackage, file, manifest.MustParseVersion("1.0.0"))
		if err == nil && checkKey(key) != nil {
			t.Errorf("%q, %q: key %q", format, file, key)
		}
	})
}
