//go:build unix

package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// A local directory gets the same layout, atomically, with explicit modes
// whatever the umask, and no link inside it is followed.
func TestPublishDir(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	key, pub := testKey(t)
	ctx := context.Background()
	root := t.TempDir()
	m := New("https://releases.example.com/agent/{PackageName}/{PackageVersion}/{FileName}")
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	tgt := &DirTarget{Dir: root}
	if _, err := (&Publisher{Target: tgt, Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(root, testPackage, "1.0.0", testFile)
	for path, mode := range map[string]os.FileMode{pkg: 0o644, filepath.Dir(pkg): 0o755 | os.ModeDir, filepath.Join(root, testPackage): 0o755 | os.ModeDir,
		filepath.Join(root, DefaultManifestName): 0o644, filepath.Join(root, DefaultManifestName+".sig"): 0o644} {
		if fi, err := os.Lstat(path); err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v, %v; want %v", path, fi.Mode(), err, mode)
		}
	}
	data, _ := os.ReadFile(filepath.Join(root, DefaultManifestName))
	sig, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
	if _, err := signing.Verify(data, sig, []ed25519.PublicKey{pub}); err != nil || !bytes.Equal(data, d1) {
		t.Errorf("published pair: %v", err)
	}
	// A link planted where the next version's directory goes is refused,
	// and nothing is written through it.
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(root, testPackage, "2.0.0"))
	d2, s2, dir2 := addRelease(t, m, key, "2.0.0", nil)
	_, err := (&Publisher{Target: tgt, Packages: dir2}).Publish(ctx, d2, s2)
	if err == nil {
		t.Fatal("published through a link")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote %v through the link", ents)
	}
	os.Remove(filepath.Join(root, testPackage, "2.0.0"))
	if _, err := (&Publisher{Target: tgt, Packages: dir2}).Publish(ctx, d2, s2); err != nil {
		t.Fatal(err)
	}
	// A manifest that changed since it was read is not overwritten.
	rc, etag, err := tgt.Open(ctx, DefaultManifestName)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := tgt.Put(ctx, DefaultManifestName, bytes.NewReader(d1), int64(len(d1)), nil, Condition{IfETag: etag + "x"}); !errors.Is(err, ErrConflict) {
		t.Errorf("stale ETag: %v", err)
	}
	if _, err := tgt.Put(ctx, DefaultManifestName, bytes.NewReader(d1), int64(len(d1)), nil, Condition{IfAbsent: true}); !errors.Is(err, ErrConflict) {
		t.Errorf("IfAbsent over a file: %v", err)
	}
	if _, err := tgt.Put(ctx, "../x", bytes.NewReader(d1), int64(len(d1)), nil, Condition{}); err == nil {
		t.Error("wrote outside the root")
	}
	// A package file that changes between its checksum and its upload is
	// caught.
	if _, err := tgt.Put(ctx, "p/new", bytes.NewReader([]byte("abc")), 3, sha([]byte("abd")), Condition{IfAbsent: true}); err == nil {
		t.Error("took a body whose SHA-256 is not the one given")
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "p")); len(ents) != 0 {
		t.Errorf("left %v behind", ents)
	}
	_ = manifest.StatusActive
}

// A FIFO given as a package file is refused without waiting for a writer.
func TestFileChecksumFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.tar.gz")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip(err)
	}
	if _, err := FileChecksum(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FileChecksum of a FIFO: %v", err)
	}
}
