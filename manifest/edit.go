package manifest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The editing methods change a Manifest in place and keep its index right,
// so that queries answer as they would on the manifest Parse reads from
// Marshal's output. They are what release tooling needs; an agent only
// reads.

// AddRelease adds release r to the file named file of package pkg, adding
// the package and the file when the manifest has none of that name. A
// version already in the file is refused, as is a release Parse would
// refuse: an empty or invalid version, a checksum that is not 64
// hexadecimal digits, an unknown status, a rollout that breaks a rule. An
// empty Status is StatusActive.
func (m *Manifest) AddRelease(pkg, file string, r Release) error {
	path := fmt.Sprintf("%s/%s@%s", pkg, file, r.Version)
	switch {
	case checkName(pkg) != "":
		return fmt.Errorf("manifest: add %s: invalid package name %q: %s", path, pkg, checkName(pkg))
	case checkName(file) != "":
		return fmt.Errorf("manifest: add %s: invalid file name %q: %s", path, file, checkName(file))
	case r.Version.IsZero():
		return fmt.Errorf("manifest: add %s: %w: empty", path, ErrInvalidVersion)
	case !isSHA256Hex(r.Checksum):
		return fmt.Errorf("manifest: add %s: invalid checksum %q: want a SHA-256 as 64 hexadecimal digits", path, r.Checksum)
	}
	if r.Status == "" {
		r.Status = StatusActive
	}
	if !r.Status.Known() {
		return fmt.Errorf("manifest: add %s: %w %q (want Active, Inactive or Deprecated)", path, ErrUnknownStatus, string(r.Status))
	}
	if r.Rollout != nil {
		if err := r.Rollout.check(); err != nil {
			return fmt.Errorf("manifest: add %s: %w", path, err)
		}
	}
	p := m.ensurePackage(pkg)
	f := p.ensureFile(file)
	if i := f.find(r.Version); i >= 0 {
		return fmt.Errorf("manifest: add %s: version %s is already in the file (as %s)", path, r.Version, f.Releases[i].Version)
	}
	f.Releases = append(f.Releases, r)
	m.reindex()
	return nil
}

// SetStatus sets the status of version v in every file of package pkg and
// returns how many releases it changed. The error wraps ErrPackageNotFound
// or ErrVersionNotFound when the package has no release of v, and
// ErrUnknownStatus for a status other than the three known.
func (m *Manifest) SetStatus(pkg string, v Version, s Status) (int, error) {
	if !s.Known() {
		return 0, fmt.Errorf("manifest: set status of %s %s: %w %q (want Active, Inactive or Deprecated)", pkg, v, ErrUnknownStatus, string(s))
	}
	changed := 0
	err := m.eachRelease(pkg, v, func(r *Release) {
		if r.Status != s {
			r.Status = s
			changed++
		}
	})
	m.reindex()
	return changed, err
}

// DeprecateBefore marks Deprecated every Active release of package pkg older
// than v, in every file, and returns how many it changed.
func (m *Manifest) DeprecateBefore(pkg string, v Version) int {
	p, err := m.Package(pkg)
	if err != nil {
		return 0
	}
	changed := 0
	for i := range p.Files {
		for j := range p.Files[i].Releases {
			r := &p.Files[i].Releases[j]
			if r.Status == StatusActive && Compare(r.Version, v) < 0 {
				r.Status = StatusDeprecated
				changed++
			}
		}
	}
	m.reindex()
	return changed
}

// SetPaused pauses or resumes the rollout of version v in every file of
// package pkg and returns how many releases it changed. Pausing a release
// without a Rollout gives it one that only pauses it. The error wraps
// ErrPackageNotFound or ErrVersionNotFound when the package has no release
// of v.
func (m *Manifest) SetPaused(pkg string, v Version, paused bool) (int, error) {
	changed := 0
	err := m.eachRelease(pkg, v, func(r *Release) {
		switch {
		case r.Rollout == nil && paused:
			r.Rollout = &Rollout{Paused: true}
		case r.Rollout == nil || r.Rollout.Paused == paused:
			return
		default:
			ro := *r.Rollout // the Rollout may be shared with a copy of the manifest
			ro.Paused = paused
			r.Rollout = &ro
		}
		changed++
	})
	return changed, err
}

// eachRelease calls fn on the release of v in every file of package pkg.
func (m *Manifest) eachRelease(pkg string, v Version, fn func(*Release)) error {
	p, err := m.Package(pkg)
	if err != nil {
		return err
	}
	found := false
	for i := range p.Files {
		if j := p.Files[i].find(v); j >= 0 {
			fn(&p.Files[i].Releases[j])
			found = true
		}
	}
	if !found {
		return fmt.Errorf("manifest: %w: %q in package %q", ErrVersionNotFound, v.String(), pkg)
	}
	return nil
}

func (m *Manifest) ensurePackage(name string) *Package {
	for i := range m.Packages {
		if m.Packages[i].Name == name {
			return &m.Packages[i]
		}
	}
	m.Packages = append(m.Packages, Package{Name: name})
	return &m.Packages[len(m.Packages)-1]
}

func (p *Package) ensureFile(name string) *File {
	for i := range p.Files {
		if p.Files[i].Name == name {
			return &p.Files[i]
		}
	}
	p.Files = append(p.Files, File{Name: name})
	return &p.Files[len(p.Files)-1]
}

// reindex rebuilds the indexes Parse builds, after an edit.
func (m *Manifest) reindex() {
	m.byName = make(map[string]int, len(m.Packages))
	for i := range m.Packages {
		p := &m.Packages[i]
		m.byName[p.Name] = i
		p.byName = make(map[string]int, len(p.Files))
		for j := range p.Files {
			f := &p.Files[j]
			p.byName[f.Name] = j
			f.idx = &fileIndex{byVersion: make(map[string]int, len(f.Releases)), latest: -1, latestActive: -1}
			for k := range f.Releases {
				f.idx.byVersion[f.Releases[k].Version.key()] = k
				f.idx.add(f.Releases, k)
			}
		}
	}
}

// Marshal encodes the manifest as JSON in SSM's spelling (UriFormat,
// AvailableVersions, CheckSum), indented, with ManifestVersion, Expires and
// each Rollout only when set. Parse reads the output back to an equal
// Manifest.
func (m *Manifest) Marshal() ([]byte, error) {
	w := outManifest{
		SchemaVersion:   m.SchemaVersion,
		ManifestVersion: m.ManifestVersion,
		Expires:         formatTime(m.Expires),
		UriFormat:       m.URIFormat,
		Packages:        make([]outPackage, len(m.Packages)),
	}
	for i, p := range m.Packages {
		op := outPackage{Name: p.Name, Files: make([]outFile, len(p.Files))}
		for j, f := range p.Files {
			of := outFile{Name: f.Name, AvailableVersions: make([]outRelease, len(f.Releases))}
			for k, r := range f.Releases {
				of.AvailableVersions[k] = outRelease{Version: r.Version.String(), CheckSum: r.Checksum, Status: string(r.Status), Rollout: outRolloutOf(r.Rollout)}
			}
			op.Files[j] = of
		}
		w.Packages[i] = op
	}
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest: marshal: %w", err)
	}
	return append(b, '\n'), nil
}

// The output types spell the manifest as SSM does; unlike the wire types
// they leave out what is unset.
type (
	outManifest struct {
		SchemaVersion   string `json:",omitempty"`
		ManifestVersion uint64 `json:",omitempty"`
		Expires         string `json:",omitempty"`
		UriFormat       string
		Packages        []outPackage `json:"Packages"`
	}
	outPackage struct {
		Name  string
		Files []outFile
	}
	outFile struct {
		Name              string
		AvailableVersions []outRelease
	}
	outRelease struct {
		Version  string
		CheckSum string
		Status   string
		Rollout  *outRollout `json:",omitempty"`
	}
	outRollout struct {
		Start  string  `json:",omitempty"`
		Waves  []Wave  `json:",omitempty"`
		Groups []Group `json:",omitempty"`
		Paused bool
	}
)

func outRolloutOf(r *Rollout) *outRollout {
	if r == nil {
		return nil
	}
	return &outRollout{Start: formatTime(r.Start), Waves: r.Waves, Groups: r.Groups, Paused: r.Paused}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ParseWaves reads waves written as PERCENT@HOURS, comma-separated, such as
// "1@0,10@24,100@72", and checks them by the rules of Rollout.Waves.
func ParseWaves(s string) ([]Wave, error) {
	var waves []Wave
	err := parseStages(s, func(name string, hours float64) error {
		pct, err := strconv.ParseFloat(name, 64)
		if err != nil {
			return fmt.Errorf("percent %q: not a number", name)
		}
		waves = append(waves, Wave{Percent: pct, AfterHours: hours})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return waves, (&Rollout{Start: time.Unix(1, 0), Waves: waves}).check()
}

// ParseGroups reads groups written as NAME@HOURS, comma-separated, such as
// "canary@0,prod@48", and checks them by the rules of Rollout.Groups.
func ParseGroups(s string) ([]Group, error) {
	var groups []Group
	err := parseStages(s, func(name string, hours float64) error {
		groups = append(groups, Group{Name: name, AfterHours: hours})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return groups, (&Rollout{Start: time.Unix(1, 0), Groups: groups}).check()
}

func parseStages(s string, add func(name string, hours float64) error) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		name, h, ok := strings.Cut(strings.TrimSpace(item), "@")
		if !ok || name == "" || h == "" {
			return fmt.Errorf("%q: want X@HOURS", item)
		}
		hours, err := strconv.ParseFloat(h, 64)
		if err != nil {
			return fmt.Errorf("%q: hours %q: not a number", item, h)
		}
		if err := add(name, hours); err != nil {
			return fmt.Errorf("%q: %w", item, err)
		}
	}
	return nil
}
