package manifest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	sumA = "84fc818a7e21068c47412ddd18d3748a04a16b8f8836a259191920f854c4edc7"
	sumB = "8DCB1072B7B0669B1DE53163EB0EEC322CEABD7F08FFF395D73240EC633181BF"
)

// doc returns a one-package, one-file manifest whose AvailableVersions are
// releases, a JSON array body.
func doc(releases string) string {
	return `{"SchemaVersion":"1.0",
 "UriFormat":"https://s3.{Region}.amazonaws.com/amazon-ssm-{Region}/{PackageName}/{PackageVersion}/{FileName}",
 "Packages":[{"Name":"amazon-ssm-agent","Files":[
  {"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[` + releases + `]}]}]}`
}

func mustParse(t testing.TB, s string) *Manifest {
	t.Helper()
	m, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func mustFile(t testing.TB, m *Manifest, pkg, file string) *File {
	t.Helper()
	p, err := m.Package(pkg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.File(file)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseErrors(t *testing.T) {
	rel := func(v, sum, status string) string {
		return `{"Version":"` + v + `","CheckSum":"` + sum + `","Status":"` + status + `"}`
	}
	tests := []struct {
		name, in string
		path     string // want ParseError.Path
		msg      string // want in the message
	}{
		{"truncated", truncated(doc(rel("1.0", sumA, "")), `"AvailableVersions":[`), "Packages[0].Files[0].AvailableVersions", "malformed JSON: unexpected end of JSON input"},
		{"not JSON", "<html>", "", "line 1, column 1: malformed JSON"},
		{"trailing garbage", doc(rel("1.0", sumA, "")) + "x", "", "malformed JSON"},
		{"top level array", `[]`, "", "want object, got array"},
		{"packages object", `{"UriFormat":"x","Packages":{}}`, "Packages", "want array, got object"},
		{"version number", doc(`{"Version":1.0,"CheckSum":"` + sumA + `"}`), "Packages[0].Files[0].AvailableVersions[0].Version", "want string, got number"},
		{"status bool", doc(rel("1.0", sumA, "") + `,{"Version":"2","CheckSum":"` + sumA + `","Status":true}`), "Packages[0].Files[0].AvailableVersions[1].Status", "want string, got bool"},
		{"empty UriFormat", `{"SchemaVersion":"1.0","UriFormat":"","Packages":[]}`, "UriFormat", "empty"},
		{"unknown placeholder", `{"UriFormat":"https://x/{PacakgeVersion}","Packages":[]}`, "UriFormat", "unknown placeholder {PacakgeVersion}"},
		{"unterminated placeholder", `{"UriFormat":"https://x/{Region","Packages":[]}`, "UriFormat", "unterminated placeholder"},
		{"schema 2", `{"SchemaVersion":"2.0","UriFormat":"u","Packages":[]}`, "SchemaVersion", `unsupported schema version "2.0"`},
		{"no packages", `{"UriFormat":"u"}`, "Packages", "no packages"},
		{"package name empty", `{"UriFormat":"u","Packages":[{"Files":[]}]}`, "Packages[0].Name", "invalid package name \"\": empty"},
		{"package name path", `{"UriFormat":"u","Packages":[{"Name":"../x"}]}`, "Packages[0].Name", "path separator"},
		{"no files", `{"UriFormat":"u","Packages":[{"Name":"p"}]}`, "Packages[0].Files", `package "p" has no files`},
		{"duplicate package", `{"UriFormat":"u","Packages":[{"Name":"p","Files":[{"Name":"f"}]},{"Name":"p"}]}`, "Packages[1].Name", `duplicate package "p" (also Packages[0])`},
		{"duplicate file", `{"UriFormat":"u","Packages":[{"Name":"p","Files":[{"Name":"f"},{"Name":"g"},{"Name":"f"}]}]}`, "Packages[0].Files[2].Name", `duplicate file "f" (also Packages[0].Files[0])`},
		{"file name space", `{"UriFormat":"u","Packages":[{"Name":"p","Files":[{"Name":"a b"}]}]}`, "Packages[0].Files[0].Name", "space or control"},
		{"bad version", doc(rel("1.0", sumA, "") + "," + rel("1.x.0", sumA, "")), "Packages[0].Files[0].AvailableVersions[1].Version", `invalid version "1.x.0"`},
		{"empty version", doc(rel("", sumA, "")), "Packages[0].Files[0].AvailableVersions[0].Version", `invalid version "": empty`},
		{"duplicate version", doc(rel("1.0", sumA, "") + "," + rel("2.0", sumA, "") + "," + rel("01.00", sumB, "")), "Packages[0].Files[0].AvailableVersions[2].Version",
			`duplicate version "01.00" (same as Packages[0].Files[0].AvailableVersions[0].Version "1.0")`},
		{"short checksum", doc(rel("1.0", sumA[:63], "")), "Packages[0].Files[0].AvailableVersions[0].CheckSum", "want a SHA-256 as 64 hexadecimal digits"},
		{"non-hex checksum", doc(rel("1.0", "g"+sumA[1:], "")), "Packages[0].Files[0].AvailableVersions[0].CheckSum", "invalid checksum"},
		{"missing checksum", doc(`{"Version":"1.0"}`), "Packages[0].Files[0].AvailableVersions[0].CheckSum", `invalid checksum ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tt.in))
			if m != nil {
				t.Errorf("Parse returned a manifest with error %v", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v (%T), want *ParseError", err, err)
			}
			if pe.Path != tt.path {
				t.Errorf("Path = %q, want %q (error %q)", pe.Path, tt.path, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if tt.path != "" && !strings.Contains(err.Error(), tt.path+": ") {
				t.Errorf("error %q does not name the path %q", err, tt.path)
			}
		})
	}
}

// truncated cuts s just after the first occurrence of marker.
func truncated(s, marker string) string {
	return s[:strings.Index(s, marker)+len(marker)]
}

// The error of the example, verbatim.
func TestParseErrorExample(t *testing.T) {
	var files []string
	for i := range 3 {
		var rels []string
		for j := range 6 {
			v := "1." + string(rune('0'+j))
			if i == 2 && j == 5 {
				v = "1.x.0"
			}
			rels = append(rels, `{"Version":"`+v+`","Checksum":"`+sumA+`"}`)
		}
		files = append(files, `{"Name":"f`+string(rune('0'+i))+`","AvailableVersions":[`+strings.Join(rels, ",")+`]}`)
	}
	in := `{"UriFormat":"u","Packages":[{"Name":"p","Files":[` + strings.Join(files, ",") + `]}]}`
	_, err := Parse(strings.NewReader(in))
	want := `Packages[0].Files[2].AvailableVersions[5].Version: invalid version "1.x.0"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Parse error = %v, want it to contain %s", err, want)
	}
}

func TestParseLineColumn(t *testing.T) {
	in := "{\n  \"UriFormat\": \"u\",\n  \"Packages\": [\n    {\"Name\": \"p\",, }\n  ]\n}"
	_, err := Parse(strings.NewReader(in))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 4 || pe.Column != 18 {
		t.Fatalf("Parse error = %v; want line 4, column 18", err)
	}
	if pe.Path != "Packages[0]" {
		t.Errorf("Path = %q, want Packages[0]", pe.Path)
	}
}

func TestParseKeysCaseInsensitive(t *testing.T) {
	in := `{"schemaversion":"1.0","URIFORMAT":"https://h/{FileName}","packages":[{"name":"p","FILES":[
		{"name":"f","availableversions":[
			{"version":"1.0","checksum":"` + sumA + `","status":"Deprecated"},
			{"VERSION":"2.0","CheckSum":"` + sumB + `"},
			{"Version":"3.0","Checksum":"` + sumA + `","Status":"Inactive"}]}]}]}`
	m := mustParse(t, in)
	f := mustFile(t, m, "p", "f")
	want := []Release{
		{MustParseVersion("1.0"), sumA, StatusDeprecated, nil},
		{MustParseVersion("2.0"), sumB, StatusActive, nil},
		{MustParseVersion("3.0"), sumA, StatusInactive, nil},
	}
	if len(f.Releases) != len(want) {
		t.Fatalf("got %d releases, want %d", len(f.Releases), len(want))
	}
	for i := range want {
		if f.Releases[i] != want[i] {
			t.Errorf("release %d = %+v, want %+v", i, f.Releases[i], want[i])
		}
	}
}

func TestParseSizeLimit(t *testing.T) {
	in := doc(`{"Version":"1.0","CheckSum":"` + sumA + `"}`)
	if _, err := (ParseOptions{MaxBytes: int64(len(in))}).Parse(strings.NewReader(in)); err != nil {
		t.Fatalf("a manifest of exactly MaxBytes: %v", err)
	}
	_, err := (ParseOptions{MaxBytes: int64(len(in) - 1)}).Parse(strings.NewReader(in))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("a manifest over MaxBytes: error %v, want ErrTooLarge", err)
	}

	// The default limit stops reading at 16 MiB + 1 byte of an endless input.
	r := &countingReader{r: endless{}}
	_, err = Parse(r)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("endless input: error %v, want ErrTooLarge", err)
	}
	if r.n != DefaultMaxBytes+1 {
		t.Errorf("read %d bytes of an endless input, want %d", r.n, DefaultMaxBytes+1)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want it to wrap the reader's", err)
	}
}

// Hand-built manifests answer queries by scanning, with the same answers.
func TestQueriesWithoutIndex(t *testing.T) {
	parsed := mustParse(t, loadFixture(t, "head/sampleManifestWithStatus.json"))
	built := &Manifest{URIFormat: parsed.URIFormat}
	for _, p := range parsed.Packages {
		bp := Package{Name: p.Name}
		for _, f := range p.Files {
			bp.Files = append(bp.Files, File{Name: f.Name, Releases: f.Releases})
		}
		built.Packages = append(built.Packages, bp)
	}
	for _, m := range []*Manifest{parsed, built} {
		f := mustFile(t, m, "amazon-ssm-agent", "amazon-ssm-agent-linux-arm64.tar.gz")
		if r, _ := f.LatestActive(); r.Version.String() != "2.0.796.0" {
			t.Errorf("LatestActive = %s, want 2.0.796.0", r.Version)
		}
		if r, _ := f.Latest(); r.Version.String() != "2.2.96.0" {
			t.Errorf("Latest = %s, want 2.2.96.0", r.Version)
		}
		if r, err := f.Release(MustParseVersion("02.0.0822.0")); err != nil || r.Version.String() != "2.0.822.0" {
			t.Errorf("Release(02.0.0822.0) = %v, %v; want 2.0.822.0", r.Version, err)
		}
		if _, err := f.Release(MustParseVersion("2.0.822")); !errors.Is(err, ErrVersionNotFound) {
			t.Errorf("Release(2.0.822) error = %v, want ErrVersionNotFound", err)
		}
		if _, err := m.Package("nope"); !errors.Is(err, ErrPackageNotFound) {
			t.Errorf("Package(nope) error = %v, want ErrPackageNotFound", err)
		}
	}
}

func TestEmptyFile(t *testing.T) {
	m := mustParse(t, doc(""))
	f := mustFile(t, m, "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz")
	if _, ok := f.Latest(); ok {
		t.Error("Latest of a file without releases reported one")
	}
	if _, ok := f.LatestActive(); ok {
		t.Error("LatestActive of a file without releases reported one")
	}
}

func loadFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ssm", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFixturesParseIdentically(t *testing.T) {
	// Parsing must not depend on reader chunking.
	in := loadFixture(t, "head/sampleManifestWithStatus.json")
	a := mustParse(t, in)
	b, err := Parse(iotest.OneByteReader(bytes.NewReader([]byte(in))))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Packages) != len(b.Packages) || a.URIFormat != b.URIFormat {
		t.Fatal("one-byte reads parse differently")
	}
}
