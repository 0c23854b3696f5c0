package release

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// A manifest that expires now, or within MinExpiry, is neither sealed nor
// published (agents would refuse it as stale), with an error naming
// Expires; one just past the margin is.
func TestExpiryMargin(t *testing.T) {
	key, _ := testKey(t)
	m := New(testFormat)
	addRelease(t, m, key, "1.0.0", nil)
	for _, d := range []time.Duration{-time.Hour, 0, time.Second, MinExpiry - time.Minute, MinExpiry} {
		before := m.ManifestVersion
		if _, _, err := Seal(m, key, time.Now().Add(d)); err == nil || !strings.Contains(err.Error(), "Expires") {
			t.Errorf("Seal expiring in %v: %v", d, err)
		}
		if m.ManifestVersion != before {
			t.Error("a refused Seal changed the manifest")
		}
	}
	if _, _, err := Seal(m, key, time.Now().Add(MinExpiry+time.Minute)); err != nil {
		t.Errorf("Seal just past the margin: %v", err)
	}
	// Publish checks again: a pair sealed earlier that expires soon.
	soon, _ := clone(m)
	soon.ManifestVersion++
	soon.Expires = time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	data, err := soon.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := signing.Sign(data, key)
	root := t.TempDir()
	_, err = (&Publisher{Target: &DirTarget{Dir: root}}).Publish(context.Background(), data, sig)
	if err == nil || !strings.Contains(err.Error(), "Expires") {
		t.Errorf("Publish of a manifest expiring in a minute: %v", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("a refused publish wrote %v", ents)
	}
}

// Seal reads back what it encoded and signs nothing that does not parse.
func TestSealReadsBack(t *testing.T) {
	key, _ := testKey(t)
	m := New(testFormat)
	m.Packages = []manifest.Package{{Name: testPackage, Files: []manifest.File{{Name: testFile,
		Releases: []manifest.Release{{Version: manifest.MustParseVersion("1.0.0"), Checksum: "not-a-sha256", Status: manifest.StatusActive}}}}}}
	data, sig, err := Seal(m, key, time.Now().Add(24*time.Hour))
	if err == nil || data != nil || sig != nil || !strings.Contains(err.Error(), "CheckSum") {
		t.Errorf("Seal of a manifest that does not parse: %v", err)
	}
	if m.ManifestVersion != 0 {
		t.Error("a refused Seal changed the manifest")
	}
}

// Add refuses up front a file name that publish could not put at a key
// (naming Files and the file), and reads a package file that has other
// hard links as any other; a symbolic link and a FIFO stay refused.
func TestAddInputs(t *testing.T) {
	dir := t.TempDir()
	v := manifest.MustParseVersion("1.0.0")
	for _, name := range []string{"x?y#z.tar.gz", "a#b.tar.gz", `a\b.tar.gz`} {
		if runtime.GOOS == "windows" && strings.Contains(name, `\`) {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("pkg"), 0o644); err != nil {
			t.Fatal(err)
		}
		m := New(testFormat)
		err := (Add{Package: testPackage, Version: v, Files: []string{path}}).Apply(m, time.Now())
		if err == nil || !strings.Contains(err.Error(), "Files") || !strings.Contains(err.Error(), name) {
			t.Errorf("Add of %q: %v", name, err)
		}
		if len(m.Packages) != 0 {
			t.Errorf("a refused Add changed the manifest")
		}
	}
	pkg := writePackage(t, filepath.Join(dir, "dist"), "1.0.0")
	cache := filepath.Join(dir, "cache")
	os.Mkdir(cache, 0o755)
	if err := os.Link(pkg, filepath.Join(cache, testFile)); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	key, _ := testKey(t)
	m := New("https://releases.example.com/agent/{PackageName}/{PackageVersion}/{FileName}")
	if err := (Add{Package: testPackage, Version: v, Files: []string{pkg}}).Apply(m, time.Now()); err != nil {
		t.Fatalf("Add of a hard-linked file: %v", err)
	}
	data, sig, err := Seal(m, key, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if _, err := (&Publisher{Target: &DirTarget{Dir: root}, Packages: filepath.Dir(pkg)}).Publish(context.Background(), data, sig); err != nil {
		t.Fatalf("publish of a hard-linked package file: %v", err)
	}
	link := filepath.Join(dir, "link.tar.gz")
	if err := os.Symlink(pkg, link); err == nil {
		if _, err := FileChecksum(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("FileChecksum of a symbolic link: %v", err)
		}
	}
}
