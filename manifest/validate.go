package manifest

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// fileIndex answers a File's queries in constant time.
type fileIndex struct {
	byVersion    map[string]int // Version.key() → index into Releases
	latest       int            // index of the greatest version, -1 if none
	latestActive int            // index of the greatest Active version, -1 if none
}

// build validates a decoded manifest and converts it into an indexed
// Manifest. It reports the first problem found, in document order, after
// the document-wide checks.
func (w *wireManifest) build() (*Manifest, error) {
	if err := w.checkDocument(); err != nil {
		return nil, err
	}
	expires, err := parseTime("Expires", w.Expires)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		SchemaVersion:   w.SchemaVersion,
		ManifestVersion: w.ManifestVersion,
		URIFormat:       w.UriFormat,
		Packages:        make([]Package, len(w.Packages)),
		Expires:         expires,
		byName:          make(map[string]int, len(w.Packages)),
	}
	for i := range w.Packages {
		wp := &w.Packages[i]
		path := "Packages[" + strconv.Itoa(i) + "]"
		if why := checkName(wp.Name); why != "" {
			return nil, parseErrorf(path+".Name", "invalid package name %q: %s", wp.Name, why)
		}
		if j, dup := m.byName[wp.Name]; dup {
			return nil, parseErrorf(path+".Name", "duplicate package %q (also Packages[%d])", wp.Name, j)
		}
		m.byName[wp.Name] = i
		p, err := wp.build(path)
		if err != nil {
			return nil, err
		}
		m.Packages[i] = p
	}
	return m, nil
}

// checkDocument checks what concerns the manifest as a whole.
func (w *wireManifest) checkDocument() error {
	// An EC2Config manifest shares the top level but has one FileName per
	// package instead of Files; reading it as an SSM manifest would find no
	// files at all, so say what it is.
	for i := range w.Packages {
		if w.Packages[i].FileName != "" {
			return parseErrorf("Packages["+strconv.Itoa(i)+"].FileName",
				"this is an EC2Config manifest (one FileName per package), not an SSM agent manifest (Packages[].Files[])")
		}
	}
	if w.SchemaVersion != "" {
		if v, err := ParseVersion(w.SchemaVersion); err != nil || !strings.HasPrefix(v.key()+".", "1.") {
			return parseErrorf("SchemaVersion", "unsupported schema version %q (want 1.x)", w.SchemaVersion)
		}
	}
	if w.UriFormat == "" {
		return parseErrorf("UriFormat", "empty (want a URL template such as https://s3.{Region}.amazonaws.com/amazon-ssm-{Region}/{PackageName}/{PackageVersion}/{FileName})")
	}
	if err := checkTemplate(w.UriFormat); err != nil {
		return &ParseError{Path: "UriFormat", Err: err}
	}
	if len(w.Packages) == 0 {
		return parseErrorf("Packages", "no packages")
	}
	return nil
}

func (wp *wirePackage) build(path string) (Package, error) {
	if len(wp.Files) == 0 {
		return Package{}, parseErrorf(path+".Files", "package %q has no files", wp.Name)
	}
	p := Package{
		Name:   wp.Name,
		Files:  make([]File, len(wp.Files)),
		byName: make(map[string]int, len(wp.Files)),
	}
	for i := range wp.Files {
		wf := &wp.Files[i]
		fpath := path + ".Files[" + strconv.Itoa(i) + "]"
		if why := checkName(wf.Name); why != "" {
			return Package{}, parseErrorf(fpath+".Name", "invalid file name %q: %s", wf.Name, why)
		}
		if j, dup := p.byName[wf.Name]; dup {
			return Package{}, parseErrorf(fpath+".Name", "duplicate file %q (also %s.Files[%d])", wf.Name, path, j)
		}
		p.byName[wf.Name] = i
		f, err := wf.build(fpath)
		if err != nil {
			return Package{}, err
		}
		p.Files[i] = f
	}
	return p, nil
}

func (wf *wireFile) build(path string) (File, error) {
	f := File{
		Name:     wf.Name,
		Releases: make([]Release, len(wf.AvailableVersions)),
		idx: &fileIndex{
			byVersion:    make(map[string]int, len(wf.AvailableVersions)),
			latest:       -1,
			latestActive: -1,
		},
	}
	for i := range wf.AvailableVersions {
		wr := &wf.AvailableVersions[i]
		r, err := wr.build(path, i)
		if err != nil {
			return File{}, err
		}
		k := r.Version.key()
		if j, dup := f.idx.byVersion[k]; dup {
			return File{}, parseErrorf(releasePath(path, i)+".Version",
				"duplicate version %q (same as %s.Version %q)", wr.Version, releasePath(path, j), wf.AvailableVersions[j].Version)
		}
		f.idx.byVersion[k] = i
		f.Releases[i] = r
		f.idx.add(f.Releases, i)
	}
	return f, nil
}

// add updates the latest indices with release i.
func (x *fileIndex) add(rs []Release, i int) {
	if x.latest < 0 || Compare(rs[i].Version, rs[x.latest].Version) > 0 {
		x.latest = i
	}
	if rs[i].Status == StatusActive && (x.latestActive < 0 || Compare(rs[i].Version, rs[x.latestActive].Version) > 0) {
		x.latestActive = i
	}
}

func (wr *wireRelease) build(path string, i int) (Release, error) {
	if why := checkVersion(wr.Version); why != "" {
		return Release{}, &ParseError{Path: releasePath(path, i) + ".Version", Err: &versionError{text: wr.Version, why: why}}
	}
	if !isSHA256Hex(wr.CheckSum) {
		return Release{}, parseErrorf(releasePath(path, i)+".CheckSum", "invalid checksum %q: want a SHA-256 as 64 hexadecimal digits", wr.CheckSum)
	}
	status := Status(wr.Status)
	if status == "" {
		status = StatusActive
	}
	r := Release{Version: Version{s: wr.Version}, Checksum: wr.CheckSum, Status: status}
	if wr.Rollout != nil {
		ro, err := wr.Rollout.build(releasePath(path, i) + ".Rollout")
		if err != nil {
			return Release{}, err
		}
		r.Rollout = ro
	}
	return r, nil
}

func (wr *wireRollout) build(path string) (*Rollout, error) {
	start, err := parseTime(path+".Start", wr.Start)
	if err != nil {
		return nil, err
	}
	r := &Rollout{Start: start, Waves: wr.Waves, Groups: wr.Groups, Paused: wr.Paused}
	if err := r.check(); err != nil {
		return nil, rolloutParseError(path, err)
	}
	return r, nil
}

// rolloutParseError turns an error of a rollout check into a *ParseError
// whose path is the field's, under the rollout at path.
func rolloutParseError(path string, err error) error {
	var re *rolloutError
	if errors.As(err, &re) {
		return &ParseError{Path: path + "." + re.Field, Err: re.Err}
	}
	return &ParseError{Path: path, Err: err}
}

// parseTime parses an optional RFC 3339 time.
func parseTime(path, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, parseErrorf(path, "invalid time %q: want RFC 3339, such as 2027-01-31T00:00:00Z", cutName(s))
	}
	if why := checkYear(t); why != "" {
		return time.Time{}, parseErrorf(path, "time %q: %s", cutName(s), why)
	}
	return t, nil
}

func releasePath(filePath string, i int) string {
	return filePath + ".AvailableVersions[" + strconv.Itoa(i) + "]"
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkName reports why s cannot name a package or file, or "" if it can.
// Names become URL path segments and local file names, so they must be a
// single plain path element.
func checkName(s string) string {
	switch s {
	case "":
		return "empty"
	case ".", "..":
		return "not a file name"
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/' || c == '\\':
			return "contains a path separator"
		case c <= ' ' || c == 0x7f:
			return "contains a space or control character"
		}
	}
	return ""
}
