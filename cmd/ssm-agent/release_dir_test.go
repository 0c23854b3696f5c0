//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ssmkit/ssmkit/selfupdate/release"
)

// Publishing to a directory: a file name publish could not put is refused
// by add; a publish killed between a link and its unlink (the state it
// leaves planted here: a second link under a temporary name) wedges
// neither status nor the next publish, which clears it; a publish while
// another holds the directory's lock fails naming the lock; errors name
// paths under the directory with their separator.
func TestReleaseToDir(t *testing.T) {
	releaseEnv(t)
	dir := t.TempDir()
	key, man, pub := filepath.Join(dir, "rel.key"), filepath.Join(dir, "m.json"), filepath.Join(dir, "pub")
	os.Mkdir(pub, 0o755)
	mustRun(t, "keygen", "--out", filepath.Join(dir, "rel"))
	format := "https://releases.example.com/agent/{PackageName}/{PackageVersion}/{FileName}"
	bad := filepath.Join(dir, "x?y#z.tar.gz")
	os.WriteFile(bad, []byte("pkg"), 0o644)
	status, _, errOut := runCLI(t, "", "release", "add", "--manifest", man, "--key", key, "--version", "1.0.0", "--uri-format", format, bad)
	if status != 1 || !strings.Contains(errOut, "x?y#z.tar.gz") {
		t.Errorf("add of an unpublishable name = %d, %q", status, errOut)
	}
	dist1 := relPackage(t, "1.0.0")
	mustRun(t, "release", "add", "--manifest", man, "--key", key, "--version", "1.0.0", "--uri-format", format, filepath.Join(dist1, relFile))
	status, _, errOut = runCLI(t, "", "release", "publish", "--manifest", man, "--to", pub)
	if want := pub + "/amazon-ssm-agent/1.0.0/" + relFile; status != 1 || !strings.Contains(errOut, want) {
		t.Errorf("publish without the package = %d, %q; want it to name %s", status, errOut, want)
	}
	mustRun(t, "release", "publish", "--manifest", man, "--to", pub, "--packages", dist1)
	published := filepath.Join(pub, release.DefaultManifestName)
	if err := os.Link(published, filepath.Join(pub, ".publish.tmp-0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, "release", "status", "--to", pub, "--json"); !strings.Contains(out, `"1.0.0"`) {
		t.Errorf("status after the kill: %s", out)
	}
	mustRun(t, "release", "pause", "--manifest", man, "--key", key, "--version", "1.0.0")
	unlock, err := (&release.DirTarget{Dir: pub}).Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	status, _, errOut = runCLI(t, "", "release", "publish", "--manifest", man, "--to", pub)
	if status != 1 || !strings.Contains(errOut, "another publish holds "+filepath.Join(pub, release.LockName)) {
		t.Errorf("publish while the lock is held = %d, %q", status, errOut)
	}
	unlock()
	mustRun(t, "release", "publish", "--manifest", man, "--to", pub)
	var st syscall.Stat_t
	if err := syscall.Lstat(published, &st); err != nil || st.Nlink != 1 {
		t.Errorf("the manifest has %d links after the next publish (%v)", st.Nlink, err)
	}
	if _, err := os.Lstat(filepath.Join(pub, ".publish.tmp-0123456789abcdef")); err == nil {
		t.Error("the leftover is still there")
	}
}
