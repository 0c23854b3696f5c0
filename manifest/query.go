package manifest

import (
	"fmt"
	"strings"
)

// Package returns the package named name. The error wraps
// ErrPackageNotFound and lists the packages there are.
func (m *Manifest) Package(name string) (*Package, error) {
	if m.byName != nil {
		if i, ok := m.byName[name]; ok {
			return &m.Packages[i], nil
		}
	} else {
		for i := range m.Packages {
			if m.Packages[i].Name == name {
				return &m.Packages[i], nil
			}
		}
	}
	names := make([]string, len(m.Packages))
	for i := range m.Packages {
		names[i] = m.Packages[i].Name
	}
	return nil, fmt.Errorf("manifest: %w: %q (the manifest has %s)", ErrPackageNotFound, name, list(names))
}

// File returns the package's file named name. The error wraps
// ErrFileNotFound and names both the file looked for and the files there are.
func (p *Package) File(name string) (*File, error) {
	if p.byName != nil {
		if i, ok := p.byName[name]; ok {
			return &p.Files[i], nil
		}
	} else {
		for i := range p.Files {
			if p.Files[i].Name == name {
				return &p.Files[i], nil
			}
		}
	}
	names := make([]string, len(p.Files))
	for i := range p.Files {
		names[i] = p.Files[i].Name
	}
	return nil, fmt.Errorf("manifest: %w: %q in package %q (it has %s)", ErrFileNotFound, name, p.Name, list(names))
}

// FileFor returns the package's file for platform p, such as
// amazon-ssm-agent-linux-amd64.tar.gz for Platform{"linux", "amd64"}.
func (p *Package) FileFor(platform Platform) (*File, error) {
	var buf [128]byte
	name := platform.appendFileName(buf[:0], p.Name)
	if p.byName != nil {
		if i, ok := p.byName[string(name)]; ok { // no allocation
			return &p.Files[i], nil
		}
	}
	return p.File(string(name))
}

// Release returns the release of version v. Versions that compare equal
// match (1.01 finds 1.1). The error wraps ErrVersionNotFound.
func (f *File) Release(v Version) (Release, error) {
	if i := f.find(v); i >= 0 {
		return f.Releases[i], nil
	}
	return Release{}, fmt.Errorf("manifest: %w: %q in file %q", ErrVersionNotFound, v.String(), f.Name)
}

func (f *File) find(v Version) int {
	if f.idx != nil {
		if i, ok := f.idx.byVersion[v.key()]; ok {
			return i
		}
		return -1
	}
	for i := range f.Releases {
		if Compare(f.Releases[i].Version, v) == 0 {
			return i
		}
	}
	return -1
}

// Latest returns the release with the greatest version, whatever its
// status, and false if the file has no releases.
func (f *File) Latest() (Release, bool) {
	return f.at(f.index().latest)
}

// LatestActive returns the Active release with the greatest version, and
// false if there is none. Inactive, Deprecated and unknown statuses are
// skipped; "greatest" is by Compare, not by string order.
func (f *File) LatestActive() (Release, bool) {
	return f.at(f.index().latestActive)
}

func (f *File) at(i int) (Release, bool) {
	if i < 0 {
		return Release{}, false
	}
	return f.Releases[i], true
}

// index returns the index Parse built, or computes the latest releases of a
// File built by hand.
func (f *File) index() *fileIndex {
	if f.idx != nil {
		return f.idx
	}
	x := &fileIndex{latest: -1, latestActive: -1}
	for i := range f.Releases {
		x.add(f.Releases, i)
	}
	return x
}

// list formats names for an error message, eliding long lists.
func list(names []string) string {
	const max = 8
	switch {
	case len(names) == 0:
		return "none"
	case len(names) > max:
		return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
	}
	return strings.Join(names, ", ")
}
