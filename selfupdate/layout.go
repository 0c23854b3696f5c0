package selfupdate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/manifest"
)

// A Layout is an install directory:
//
//	<dir>/versions/<version>/   one complete version each
//	<dir>/current               the version that runs
//
// On Unix current is a symbolic link to versions/<version>, switched by
// renaming a new link over it, which is atomic. On Windows, where links
// need privileges, current is a file holding the version's name, replaced
// atomically the same way; a service wrapper there starts
// versions/<current>/ssm-agent.exe.
type Layout struct {
	Dir string
}

// completeMarker is written last into a version's directory, synced:
// without it a version is not complete.
const completeMarker = ".ssmkit-complete.json"

// A completion is what a complete version's marker records.
type completion struct {
	Version string `json:"version"`
	// Checksum is the SHA-256 of the package it was unpacked from, or ""
	// for a version installed from a local binary.
	Checksum  string    `json:"checksum,omitempty"`
	Installed time.Time `json:"installed"`
}

// VersionDir returns the directory of a version.
func (l Layout) VersionDir(version string) string {
	return filepath.Join(l.Dir, "versions", version)
}

func (l Layout) currentPath() string { return filepath.Join(l.Dir, "current") }

// Current returns the version current points at.
func (l Layout) Current() (string, error) {
	var v string
	if runtime.GOOS == "windows" {
		b, err := os.ReadFile(l.currentPath())
		if err != nil {
			return "", fmt.Errorf("selfupdate: current version: %w", err)
		}
		v = strings.TrimSpace(string(b))
	} else {
		target, err := os.Readlink(l.currentPath())
		if err != nil {
			return "", fmt.Errorf("selfupdate: current version: %w", err)
		}
		v = filepath.Base(target)
	}
	if _, err := manifest.ParseVersion(v); err != nil {
		return "", fmt.Errorf("selfupdate: %s points at %q: %w", l.currentPath(), v, err)
	}
	return v, nil
}

// Complete returns nil when a version is complete (its files all in place,
// its marker written last), or an error saying why it is not.
func (l Layout) Complete(version string) error {
	_, err := l.completion(version)
	return err
}

// completion returns a complete version's marker.
func (l Layout) completion(version string) (completion, error) {
	var c completion
	b, err := os.ReadFile(filepath.Join(l.VersionDir(version), completeMarker))
	if err != nil {
		return c, fmt.Errorf("selfupdate: version %s is not complete: %w", version, err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Version != version {
		return c, fmt.Errorf("selfupdate: version %s: bad completion marker", version)
	}
	return c, nil
}

// Switch makes current point at version, which must be complete; the
// switch is atomic and durable.
func (l Layout) Switch(version string) error {
	if err := l.Complete(version); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return atomicfile.WriteFile(l.currentPath(), []byte(version+"\n"), 0o644)
	}
	tmp := l.currentPath() + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join("versions", version), tmp); err != nil {
		return fmt.Errorf("selfupdate: switch to %s: %w", version, err)
	}
	if err := os.Rename(tmp, l.currentPath()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("selfupdate: switch to %s: %w", version, err)
	}
	return atomicfile.SyncDir(l.Dir)
}

// Install makes a version from files already on disk — the running binary
// on a first start, say: each source path is copied, synced, into the
// version's directory under its name, and the version is marked complete.
// A version that is complete already is left alone.
func (l Layout) Install(version string, files map[string]string) error {
	if err := l.Complete(version); err == nil {
		return nil
	}
	if _, err := manifest.ParseVersion(version); err != nil {
		return fmt.Errorf("selfupdate: install: %w", err)
	}
	if err := l.makeVersionsDir(); err != nil {
		return fmt.Errorf("selfupdate: install: %w", err)
	}
	staging := filepath.Join(l.Dir, "versions", "."+version+".staging")
	os.RemoveAll(staging)
	if err := makeDir(staging); err != nil {
		return fmt.Errorf("selfupdate: install: %w", err)
	}
	for name, src := range files {
		if err := copyFile(src, staging, name); err != nil {
			os.RemoveAll(staging)
			return err
		}
	}
	if err := atomicfile.SyncDir(staging); err != nil {
		return err
	}
	return l.commitStaging(staging, completion{Version: version, Installed: time.Now()})
}

// commitStaging marks a staging directory complete and renames it to its
// version's directory.
func (l Layout) commitStaging(staging string, c completion) error {
	if err := l.makeVersionsDir(); err != nil {
		return fmt.Errorf("selfupdate: stage %s: %w", c.Version, err)
	}
	if err := makeDir(staging); err != nil { // exists: this sets its mode
		return fmt.Errorf("selfupdate: stage %s: %w", c.Version, err)
	}
	b, _ := json.Marshal(c)
	if err := atomicfile.WriteFile(filepath.Join(staging, completeMarker), b, 0o644); err != nil {
		return err
	}
	dir := l.VersionDir(c.Version)
	if cur, err := l.Current(); err == nil && cur == c.Version {
		return fmt.Errorf("selfupdate: stage %s: it is the version current points at, which is never replaced", c.Version)
	}
	os.RemoveAll(dir) // an incomplete earlier attempt
	if err := os.Rename(staging, dir); err != nil {
		return fmt.Errorf("selfupdate: stage %s: %w", c.Version, err)
	}
	return atomicfile.SyncDir(filepath.Dir(dir))
}

// prune removes every version but keep, and leftovers of staging.
func (l Layout) prune(keep ...string) error {
	entries, err := os.ReadDir(filepath.Join(l.Dir, "versions"))
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		kept := false
		for _, k := range keep {
			kept = kept || name == k
		}
		if !kept {
			errs = append(errs, os.RemoveAll(filepath.Join(l.Dir, "versions", name)))
		}
	}
	return errors.Join(errs...)
}

// Modes of the install directory's parts, whatever the umask.
const (
	layoutDirMode  os.FileMode = 0o755
	layoutFileMode os.FileMode = 0o644
	layoutExecMode os.FileMode = 0o755
)

// makeVersionsDir makes the install directory, if it is missing, and its
// versions directory, 0755 each.
func (l Layout) makeVersionsDir() error {
	if _, err := os.Lstat(l.Dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(l.Dir), 0o755); err != nil {
			return err
		}
		if err := makeDir(l.Dir); err != nil {
			return err
		}
	}
	return makeDir(filepath.Join(l.Dir, "versions"))
}

// makeDir makes a directory, or takes the one there (but not a symbolic
// link), and sets its mode to 0755 on its descriptor.
func makeDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	before, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !before.IsDir() {
		return fmt.Errorf("%s is not a directory (%v)", dir, before.Mode().Type())
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if fi, err := d.Stat(); err != nil || !os.SameFile(before, fi) {
		return fmt.Errorf("%s changed while it was opened", dir)
	}
	return d.Chmod(layoutDirMode)
}

// copyFile copies src to name below dir, 0755 if src has any execute bit
// and 0644 if not.
func copyFile(src, dir, name string) error {
	dst := filepath.Join(dir, name)
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("selfupdate: install: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("selfupdate: install: %w", err)
	}
	rel, err := filepath.Rel(dir, dst)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("selfupdate: install: %q is not a name inside the version", name)
	}
	if err := makeParents(dir, filepath.Dir(rel)); err != nil {
		return fmt.Errorf("selfupdate: install: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("selfupdate: install: %w", err)
	}
	mode := layoutFileMode
	if fi.Mode()&0o111 != 0 {
		mode = layoutExecMode
	}
	if err = out.Chmod(mode); err != nil && runtime.GOOS == "windows" {
		err = nil
	}
	if err == nil {
		_, err = out.ReadFrom(in)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("selfupdate: install %s: %w", dst, err)
	}
	return nil
}

// makeParents makes rel's directories below dir, outermost first.
func makeParents(dir, rel string) error {
	if rel == "." {
		return nil
	}
	if err := makeParents(dir, filepath.Dir(rel)); err != nil {
		return err
	}
	return makeDir(filepath.Join(dir, rel))
}
