package manifest

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/<FuzzName>; go test runs them as
// part of the normal suite.

func FuzzParse(f *testing.F) {
	f.Add([]byte(doc(`{"Version":"1.0","CheckSum":"` + sumA + `","Status":"Deprecated"},{"Version":"2","CheckSum":"` + sumB + `"}`)))
	f.Add([]byte(rolloutDoc(plan)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseOptions{MaxBytes: 1 << 20}.Parse(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v (%T) is neither a *ParseError nor ErrTooLarge", err, err)
			}
			if !strings.HasPrefix(err.Error(), "manifest: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		checkManifest(t, m)
		checkRoundTrip(t, m)
	})
}

// checkRoundTrip checks that Marshal's output parses back to a manifest
// that marshals the same, and that rollouts decide the same on both.
func checkRoundTrip(t *testing.T, m *Manifest) {
	out, err := m.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v on\n%s", err, out)
	}
	again, err := back.Marshal()
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("Marshal does not round-trip (%v):\n%s\n---\n%s", err, out, again)
	}
	at := time.Date(2027, 3, 2, 0, 0, 0, 0, time.UTC)
	for pi, p := range m.Packages {
		for fi, f := range p.Files {
			for ri, r := range f.Releases {
				if r.Rollout == nil {
					continue
				}
				a := r.Rollout.Decide("i-0123456789abcdef0", "canary", r.Version, at)
				b := back.Packages[pi].Files[fi].Releases[ri].Rollout.Decide("i-0123456789abcdef0", "canary", r.Version, at)
				sameTime := a.OpensAt.Equal(b.OpensAt)
				a.OpensAt, b.OpensAt = time.Time{}, time.Time{}
				if a != b || !sameTime {
					t.Fatalf("rollout decides %+v, read back %+v", a, b)
				}
			}
		}
	}
}

// checkManifest checks the invariants of a parsed manifest and that every
// query on it answers consistently.
func checkManifest(t *testing.T, m *Manifest) {
	if m.URIFormat == "" || len(m.Packages) == 0 {
		t.Fatalf("parsed a manifest with UriFormat %q and %d packages", m.URIFormat, len(m.Packages))
	}
	for pi := range m.Packages {
		p := &m.Packages[pi]
		if got, err := m.Package(p.Name); err != nil || got != p {
			t.Fatalf("Package(%q) = %p, %v; want %p", p.Name, got, err, p)
		}
		for fi := range p.Files {
			f := &p.Files[fi]
			if got, err := p.File(f.Name); err != nil || got != f {
				t.Fatalf("File(%q) = %p, %v; want %p", f.Name, got, err, f)
			}
			latest, hasLatest := f.Latest()
			active, hasActive := f.LatestActive()
			if hasLatest != (len(f.Releases) > 0) {
				t.Fatalf("%s: Latest reports %v with %d releases", f.Name, hasLatest, len(f.Releases))
			}
			if hasActive && active.Status != StatusActive {
				t.Fatalf("%s: LatestActive has status %q", f.Name, active.Status)
			}
			sawActive := false
			for _, r := range f.Releases {
				if _, err := ParseVersion(r.Version.String()); err != nil {
					t.Fatalf("%s: parsed an invalid version: %v", f.Name, err)
				}
				if !isSHA256Hex(r.Checksum) {
					t.Fatalf("%s: parsed an invalid checksum %q", f.Name, r.Checksum)
				}
				if got, err := f.Release(r.Version); err != nil || got != r {
					t.Fatalf("%s: Release(%s) = %+v, %v; want %+v", f.Name, r.Version, got, err, r)
				}
				if Compare(r.Version, latest.Version) > 0 {
					t.Fatalf("%s: %s is greater than Latest %s", f.Name, r.Version, latest.Version)
				}
				if r.Status == StatusActive {
					sawActive = true
					if Compare(r.Version, active.Version) > 0 {
						t.Fatalf("%s: Active %s is greater than LatestActive %s", f.Name, r.Version, active.Version)
					}
				}
				checkDecision(t, m, p, f, r)
			}
			if sawActive != hasActive {
				t.Fatalf("%s: LatestActive reports %v, an active release exists: %v", f.Name, hasActive, sawActive)
			}
		}
	}
}

func checkDecision(t *testing.T, m *Manifest, p *Package, f *File, r Release) {
	// Decide finds files by platform: skip names that no platform produces.
	rest, ok := strings.CutPrefix(f.Name, p.Name+"-")
	rest = strings.TrimSuffix(strings.TrimSuffix(rest, ".tar.gz"), ".zip")
	name, arch, cut := strings.Cut(rest, "-")
	if !ok || !cut || (Platform{name, arch}).FileName(p.Name) != f.Name {
		return
	}
	d, err := m.Decide(Query{Package: p.Name, Platform: Platform{name, arch}, Current: r.Version})
	switch {
	case !r.Status.Known():
		if !errors.Is(err, ErrUnknownStatus) {
			t.Fatalf("Decide on status %q: error %v, want ErrUnknownStatus", r.Status, err)
		}
	case errors.Is(err, ErrInvalidRollout):
	case err != nil:
		t.Fatalf("Decide(%s %s): %v", f.Name, r.Version, err)
	case d.Rollout != nil && d.Action == ActionUpdate && !d.Rollout.Allowed():
		t.Fatalf("Decide: update with the rollout %+v", d.Rollout)
	case d.Rollout != nil && (d.Target == nil || d.Target.Rollout == nil):
		t.Fatalf("Decide: a rollout status without a target's rollout")
	case d.Rollout == nil && (d.Target != nil) != (d.Action == ActionUpdate):
		t.Fatalf("Decide: target %v with action %q", d.Target, d.Action)
	case d.Action == ActionUpdate && (r.Status != StatusDeprecated || Compare(d.Target.Version, r.Version) < 0 || d.Target.Status != StatusActive):
		t.Fatalf("Decide: update from %s %s to %s %s", r.Version, r.Status, d.Target.Version, d.Target.Status)
	}
}

var versionPattern = regexp.MustCompile(`^\d+(\.\d+)*$`)

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"3.0.151.0", "01.1", "1..2", "", ".", "1.x.0", "9999999999999999999999.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if (err == nil) != versionPattern.MatchString(s) {
			t.Fatalf("ParseVersion(%q) error %v disagrees with the pattern", s, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidVersion) || !strings.Contains(err.Error(), "invalid version") {
				t.Fatalf("ParseVersion(%q) error %v", s, err)
			}
			return
		}
		if v.String() != s || Compare(v, v) != 0 {
			t.Fatalf("ParseVersion(%q) = %q", s, v)
		}
		k, err := ParseVersion(v.key())
		if err != nil || Compare(k, v) != 0 || k.key() != k.String() {
			t.Fatalf("key(%q) = %q is not an equal, canonical version", s, v.key())
		}
	})
}

func FuzzCompare(f *testing.F) {
	f.Add("1.0", "1.0.0", "01.0")
	f.Add("3.0.151.0", "3.0.1000.0", "3.0.151")
	f.Add("18446744073709551616", "18446744073709551615", "1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		va, errA := ParseVersion(a)
		vb, errB := ParseVersion(b)
		vc, errC := ParseVersion(c)
		if errA != nil || errB != nil || errC != nil {
			return
		}
		checkOrder(t, va, vb, vc)
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=ubuntu\nID_LIKE=debian\n"))
	f.Add([]byte("NAME=\"Amazon Linux\"\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\n"))
	f.Add([]byte("X='a'\n# c\nY=\"\\\"\\$\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := ParseOSRelease(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "os-release") {
				t.Fatalf("error %q does not name os-release", err)
			}
			return
		}
		for k := range vars {
			if !isVarName(k) {
				t.Fatalf("parsed variable name %q", k)
			}
		}
		p := LinuxPlatform(vars["ID"], strings.Fields(vars["ID_LIKE"]))
		if p != PlatformLinux && p != PlatformUbuntu {
			t.Fatalf("LinuxPlatform = %q", p)
		}
	})
}

// FuzzParseStages: ParseWaves and ParseGroups never panic, and what they
// accept obeys the rules of a Rollout and reads back the same.
func FuzzParseStages(f *testing.F) {
	for _, s := range []string{"1@0,10@24,100@72", "canary@0,prod@48", "10@0,5@1", "1e308@0", "NaN@1", "a@-1", ",", "@", "50@0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if waves, err := ParseWaves(s); err == nil {
			r := &Rollout{Start: time.Unix(1e9, 0), Waves: waves}
			if err := r.check(); err != nil {
				t.Fatalf("ParseWaves(%q) = %v, which breaks a rule: %v", s, waves, err)
			}
			var parts []string
			for _, w := range waves {
				parts = append(parts, formatFloat(w.Percent)+"@"+formatFloat(w.AfterHours))
			}
			if again, err := ParseWaves(strings.Join(parts, ",")); err != nil || len(again) != len(waves) {
				t.Fatalf("ParseWaves(%q) does not read back: %v, %v", s, again, err)
			}
		}
		if groups, err := ParseGroups(s); err == nil {
			if err := (&Rollout{Start: time.Unix(1e9, 0), Groups: groups}).check(); err != nil {
				t.Fatalf("ParseGroups(%q) = %v, which breaks a rule: %v", s, groups, err)
			}
		}
	})
}
