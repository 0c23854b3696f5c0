//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// wantCustomFile is the file the v3 core writes for a custom identity.
const wantCustomFile = `{"SchemaVersion":"1.1","InstanceId":"i-0123456789abcdef0","IdentityType":"CustomIdentity","ShareFile":"","ShareProfile":"",` +
	`"CredentialsExpiresAt":"0001-01-01T00:00:00Z","CredentialsRetrievedAt":"0001-01-01T00:00:00Z","CredentialSource":""}`

func TestIdentityFile(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	data := t.TempDir()
	id := runtimeIdentity{SchemaVersion: "1.1", InstanceId: "i-0123456789abcdef0", IdentityType: "CustomIdentity"}
	if wrote, err := writeIdentityFile(data, id); err != nil || !wrote {
		t.Fatal(wrote, err)
	}
	path := identityFile(data)
	b, _ := os.ReadFile(path)
	if string(b) != wantCustomFile {
		t.Errorf("identity file:\n%s\nwant:\n%s", b, wantCustomFile)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(filepath.Dir(path))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("modes under umask 000: file %v, dir %v; want 0600, 0700", fi.Mode(), di.Mode())
	}
	// The same identity: not rewritten (same inode).
	if wrote, err := writeIdentityFile(data, id); err != nil || wrote {
		t.Errorf("same identity rewritten: %v, %v", wrote, err)
	}
	if again, _ := os.Stat(path); !os.SameFile(fi, again) {
		t.Errorf("same identity: the file was replaced")
	}
	// Each of id, type, share file and profile changes it.
	for _, change := range []func(*runtimeIdentity){
		func(r *runtimeIdentity) { r.InstanceId = "i-other" },
		func(r *runtimeIdentity) { r.IdentityType = "EC2" },
		func(r *runtimeIdentity) { r.ShareFile = "/x" },
		func(r *runtimeIdentity) { r.ShareProfile = "p" },
	} {
		change(&id)
		if wrote, err := writeIdentityFile(data, id); err != nil || !wrote {
			t.Errorf("changed identity %+v not written: %v", id, err)
		}
	}
	// A file readable by others is replaced by a private one.
	os.Chmod(path, 0o644)
	if wrote, _ := writeIdentityFile(data, id); !wrote {
		t.Errorf("a 0644 identity file was kept")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after rewrite", fi.Mode())
	}
}

func TestIdentityFileRefusesUntrustedDirectory(t *testing.T) {
	id := runtimeIdentity{SchemaVersion: "1.1", InstanceId: "i-1", IdentityType: "CustomIdentity"}
	// A symlink to elsewhere.
	data, elsewhere := t.TempDir(), t.TempDir()
	os.Symlink(elsewhere, filepath.Join(data, "runtimeconfig"))
	if _, err := writeIdentityFile(data, id); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symlinked runtimeconfig: %v", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("written through the symlink: %v", entries)
	}
	// A world-writable directory.
	data = t.TempDir()
	os.Mkdir(filepath.Join(data, "runtimeconfig"), 0o700)
	os.Chmod(filepath.Join(data, "runtimeconfig"), 0o777)
	if _, err := writeIdentityFile(data, id); err == nil || !strings.Contains(err.Error(), "writable by group or others (mode 0777)") {
		t.Errorf("world-writable runtimeconfig: %v", err)
	}
	if _, err := os.Lstat(identityFile(data)); err == nil {
		t.Errorf("written into a world-writable directory")
	}
}
