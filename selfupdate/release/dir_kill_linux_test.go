package release

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// workDir writes a sealed pair and its packages where publisherChild
// reads them.
func workDir(t *testing.T, data, sig []byte, pkgs string) string {
	t.Helper()
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, DefaultManifestName), data, 0o644)
	os.WriteFile(filepath.Join(work, DefaultManifestName+".sig"), sig, 0o644)
	if pkgs != "" {
		if err := os.Rename(pkgs, filepath.Join(work, "packages")); err != nil {
			t.Fatal(err)
		}
	} else {
		os.Mkdir(filepath.Join(work, "packages"), 0o755)
	}
	return work
}

// childCmd is the test binary playing a publisher of work to the
// directory to, stopping at step stop; prefix runs it under another
// program (strace).
func childCmd(work, to, stop string, prefix ...string) *exec.Cmd {
	args := append(prefix, os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "RELEASE_TEST_PUBLISHER=1", "DIR="+work, "STOP="+stop, "TO_DIR="+to)
	cmd.Stderr = os.Stderr
	return cmd
}

// stopChild starts a publisher that stops at step stop, and returns it
// once it says it is there (it holds the directory's lock then).
func stopChild(t *testing.T, work, to, stop string, keys ...ed25519.PublicKey) *exec.Cmd {
	t.Helper()
	cmd := childCmd(work, to, stop)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, "PUBLIC_KEY="+hex.EncodeToString(k))
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "at "+stop+"\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the publisher said %q", line)
	}
	return cmd
}

// nlink returns the link count of the file at path.
func nlink(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return linkCount(fi)
}

// tempNames lists the temporary files left anywhere below dir.
func tempNames(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// A publisher killed with SIGKILL right after it hard-linked a new file
// in place and before it removed the temporary name (strace delivers the
// signal as the process enters that unlinkat) leaves the file with two
// links; reading the target still works, and the next publish removes the
// leftover and finishes the job — for a package, and for the .sig at the
// root.
func TestPublishDirKilledAfterLink(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("no strace to kill the publisher at its unlinkat")
	}
	key, pub := testKey(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, file string }{
		{"package", filepath.Join(testPackage, "1.0.0", testFile)},
		{"signature", DefaultManifestName + ".sig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			m := New("https://releases.example.com/agent/{PackageName}/{PackageVersion}/{FileName}")
			data, sig, pkgs := addRelease(t, m, key, "1.0.0", nil)
			if tc.name == "signature" { // the package is there already: the first link is the .sig's
				b, _ := os.ReadFile(filepath.Join(pkgs, testFile))
				os.MkdirAll(filepath.Join(root, testPackage, "1.0.0"), 0o755)
				os.WriteFile(filepath.Join(root, testPackage, "1.0.0", testFile), b, 0o644)
				pkgs = ""
			}
			work := workDir(t, data, sig, pkgs)
			cmd := childCmd(work, root, "none", strace, "-f", "-qq", "-o", "/dev/null",
				"-e", "trace=unlinkat", "-e", "inject=unlinkat:signal=KILL:when=1")
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err == nil {
				t.Fatal("the publisher was not killed")
			}
			published := filepath.Join(root, tc.file)
			if n := nlink(t, published); n != 2 {
				t.Fatalf("the kill left %s with %d links, want 2 (not killed between link and unlink?)", published, n)
			}
			tgt := &DirTarget{Dir: root}
			rc, _, err := tgt.Open(ctx, filepath.ToSlash(tc.file))
			if err != nil {
				t.Fatalf("the published file cannot be read after the kill: %v", err)
			}
			rc.Close()
			if _, err := (&Publisher{Target: tgt, Packages: filepath.Join(work, "packages")}).Publish(ctx, data, sig); err != nil {
				t.Fatalf("publishing again after the kill: %v", err)
			}
			if n := nlink(t, published); n != 1 {
				t.Errorf("%s has %d links after the publish that followed", published, n)
			}
			if left := tempNames(root); len(left) != 0 {
				t.Errorf("leftovers %v", left)
			}
			pd, _ := os.ReadFile(filepath.Join(root, DefaultManifestName))
			ps, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
			if _, err := signing.Verify(pd, ps, []ed25519.PublicKey{pub}); err != nil {
				t.Errorf("published pair: %v", err)
			}
		})
	}
}

// A publish holds the directory's lock from its first read to its last
// write: a second publisher, in another process, fails at once with
// ErrConflict naming the lock file and writes nothing; once the first is
// killed with SIGKILL the kernel lets the lock go, and publishing again
// finishes the job.
func TestPublishDirLockedByKilled(t *testing.T) {
	key, pub := testKey(t)
	ctx := context.Background()
	root := t.TempDir()
	m := New("https://releases.example.com/agent/{PackageName}/{PackageVersion}/{FileName}")
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	if _, err := (&Publisher{Target: &DirTarget{Dir: root}, Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	d2, s2, dir2 := addRelease(t, m, key, "2.0.0", nil)
	work := workDir(t, d2, s2, dir2)
	child := stopChild(t, work, root, StepSignature)
	before, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
	mB, _ := clone(m)
	dB, sB, dirB := addRelease(t, mB, key, "2.1.0", nil)
	_, err := (&Publisher{Target: &DirTarget{Dir: root}, Packages: dirB}).Publish(ctx, dB, sB)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), filepath.Join(root, LockName)) {
		t.Fatalf("a second publisher while the first holds the lock: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
	if string(before) != string(after) {
		t.Error("the second publisher wrote the .sig")
	}
	if _, err := os.Stat(filepath.Join(root, testPackage, "2.1.0")); err == nil {
		t.Error("the second publisher uploaded its package")
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if _, err := (&Publisher{Target: &DirTarget{Dir: root}, Packages: filepath.Join(work, "packages")}).Publish(ctx, d2, s2); err != nil {
		t.Fatalf("publishing again after the holder was killed: %v", err)
	}
	pd, _ := os.ReadFile(filepath.Join(root, DefaultManifestName))
	ps, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
	if f, err := signing.Verify(pd, ps, []ed25519.PublicKey{pub}); err != nil || f.ManifestVersion != 2 || len(sigLines(ps)) != 1 {
		t.Errorf("published: %+v, %v, %d lines", f, err, len(sigLines(ps)))
	}
	if fi, err := os.Lstat(filepath.Join(root, LockName)); err != nil || fi.Mode() != 0o600 {
		t.Errorf("lock file: %v, %v", fi.Mode(), err)
	}
}

// Nine publishes in a row killed with SIGKILL after their .sig's upload
// (before their manifest's), and with keys one killed after its manifest's
// upload and three more after: after each kill the manifest published
// still verifies with the .sig published, which never holds more than
// signing.MaxSignatures lines; a publish that completes leaves its
// signature alone.
func TestPublishInterruptedKeepsLiveSignature(t *testing.T) {
	key, pub := testKey(t)
	ctx := context.Background()
	for _, withKeys := range []bool{false, true} {
		t.Run(fmt.Sprintf("keys=%v", withKeys), func(t *testing.T) {
			root := t.TempDir()
			m := New("https://releases.example.com/agent/{PackageName}/{PackageVersion}/{FileName}")
			d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
			if _, err := (&Publisher{Target: &DirTarget{Dir: root}, Packages: dir1}).Publish(ctx, d1, s1); err != nil {
				t.Fatal(err)
			}
			var keys []ed25519.PublicKey
			if withKeys {
				keys = []ed25519.PublicKey{pub}
			}
			kill := func(stop string, want uint64) ([]byte, []byte) {
				t.Helper()
				data, sig, err := Seal(m, key, time.Now().Add(24*time.Hour)) // an edit re-signed, such as a pause
				if err != nil {
					t.Fatal(err)
				}
				cmd := stopChild(t, workDir(t, data, sig, ""), root, stop, keys...)
				cmd.Process.Kill()
				cmd.Wait()
				pd, _ := os.ReadFile(filepath.Join(root, DefaultManifestName))
				ps, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
				f, err := signing.Verify(pd, ps, []ed25519.PublicKey{pub})
				if err != nil || f.ManifestVersion != want {
					t.Fatalf("after a kill at %s (ManifestVersion %d): published %d, %v; the .sig has %d lines", stop, m.ManifestVersion, f.ManifestVersion, err, len(sigLines(ps)))
				}
				return data, sig
			}
			var data, sig []byte
			for range 9 {
				data, sig = kill(StepSignature, 1)
			}
			if withKeys {
				data, sig = kill(StepManifest, m.ManifestVersion+1)
				live := m.ManifestVersion
				for range 3 {
					kill(StepSignature, live)
				}
			}
			if _, err := (&Publisher{Target: &DirTarget{Dir: root}, PublicKeys: keys}).Publish(ctx, data, sig); err != nil {
				t.Fatal(err)
			}
			pd, _ := os.ReadFile(filepath.Join(root, DefaultManifestName))
			ps, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
			if _, err := signing.Verify(pd, ps, []ed25519.PublicKey{pub}); err != nil || string(ps) != string(sig) {
				t.Errorf("after a complete publish: %v; .sig %q", err, ps)
			}
		})
	}
}
