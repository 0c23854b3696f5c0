// Package atomicfile writes files so that a crash at any moment leaves
// either the old content or the new, never a mix or a truncated file: the
// data goes to a temporary file in the same directory, which is synced,
// renamed over the target, and then the directory is synced so that the
// rename itself survives a power loss.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// testHook, when set by this package's tests, is called after each step of
// WriteFile so that a test can kill the process there.
var testHook func(step string)

func step(name string) {
	if testHook != nil {
		testHook(name)
	}
}

// WriteFile writes data to path atomically and durably, with mode perm.
// On error the target is unchanged and no temporary file is left behind.
func WriteFile(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	step("created")
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	step("written")
	if err := f.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync %s: %w", path, err)
	}
	step("synced")
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomicfile: close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	step("renamed")
	if err := SyncDir(dir); err != nil {
		return err
	}
	step("dir-synced")
	return nil
}

// SyncDir flushes a directory's entries (creations, renames, removals) to
// disk. It does nothing on Windows, where directories cannot be synced.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync directory %s: %w", dir, err)
	}
	return nil
}

// Remove removes path and syncs its directory, so that the removal is
// durable. A missing file is not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return SyncDir(filepath.Dir(path))
}

// CleanTemp removes the temporary files that a crash in WriteFile left in
// dir.
func CleanTemp(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("atomicfile: %w", err)
		}
	}
	return nil
}
