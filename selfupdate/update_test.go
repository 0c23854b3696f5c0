//go:build unix

package selfupdate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

func TestUpdateSucceeds(t *testing.T) {
	s := newSetup(t)
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: "ok"})
	u := s.updater(t)
	plan, err := u.Check(context.Background())
	if err != nil || plan.Decision.Action != "update" || !strings.HasSuffix(plan.URL, "/amazon-ssm-agent/2.0.0/amazon-ssm-agent-linux-amd64.tar.gz") {
		t.Fatalf("Check = %+v, %v", plan, err)
	}
	r, err := u.Update(context.Background())
	if err != nil || r.Code != "UpdateSucceeded_SelfUpdate-2.0.0" || r.Source != "1.0.0" || r.Target != "2.0.0" {
		t.Fatalf("Update = %+v, %v", r, err)
	}
	if got := <-s.results; got.Code != r.Code {
		t.Errorf("OnResult got %+v", got)
	}
	if cur := s.current(t); cur != "2.0.0" {
		t.Errorf("current = %s", cur)
	}
	if j := s.journal(t); j.Phase != PhaseCommitted || j.Result != r.Code {
		t.Errorf("journal %+v", j)
	}
	if err := s.svc.Check(context.Background(), "2.0.0"); err != nil {
		t.Errorf("the new version does not run: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(s.cfg.InstallDir, "current", "bin", "ssm-agent"))
	if err != nil || string(b) != "binary of 2.0.0" {
		t.Errorf("installed binary %q, %v", b, err)
	}
	if c, err := u.layout.completion("2.0.0"); err != nil || c.Checksum == "" {
		t.Errorf("completion %+v, %v", c, err)
	}
}

func TestNoUpdateWhenActive(t *testing.T) {
	s := newSetup(t)
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Active", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: "ok"})
	r, err := s.updater(t).Update(context.Background())
	if err != nil || r.Code != "" || s.current(t) != "1.0.0" || len(s.svc.started()) != 0 {
		t.Errorf("Update = %+v, %v; current %s", r, err, s.current(t))
	}
}

func TestChecksumMismatch(t *testing.T) {
	s := newSetup(t)
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"},
		offer{version: "2.0.0", status: "Active", conf: "ok", checksum: strings.Repeat("ab", 32)})
	r, err := s.updater(t).Update(context.Background())
	if !errors.Is(err, ErrChecksum) || r.Code != "UpdateFailed_SelfUpdate_ErrorTargetPkgDownload-2.0.0" {
		t.Fatalf("Update = %+v, %v", r, err)
	}
	if s.current(t) != "1.0.0" || s.journal(t).Phase != PhaseAborted {
		t.Errorf("current %s, journal %+v", s.current(t), s.journal(t))
	}
	entries, _ := os.ReadDir(filepath.Join(s.cfg.StateDir, "downloads"))
	if len(entries) != 0 {
		t.Errorf("a bad download was kept: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.InstallDir, "versions", "2.0.0")); !os.IsNotExist(err) {
		t.Error("the bad version was installed")
	}
}

func TestTruncatedDownloadResumes(t *testing.T) {
	s := newSetup(t)
	big := make([]byte, 300<<10)
	rand.Read(big) // incompressible, so the package is big too
	pkg := tarGz(t, map[string]string{"agent.conf": "ok", "bin/ssm-agent": string(big)})
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", pkg: pkg})
	path := "/amazon-ssm-agent/2.0.0/amazon-ssm-agent-linux-amd64.tar.gz"
	s.repo.cut[path] = len(pkg) / 2
	u := s.updater(t)
	r, err := u.Update(context.Background())
	if err == nil || r.Code != "UpdateFailed_SelfUpdate_ErrorTargetPkgDownload-2.0.0" || s.current(t) != "1.0.0" {
		t.Fatalf("cut download: %+v, %v", r, err)
	}
	r, err = u.Update(context.Background())
	if err != nil || r.Code != "UpdateSucceeded_SelfUpdate-2.0.0" {
		t.Fatalf("resumed: %+v, %v", r, err)
	}
	s.repo.mu.Lock()
	ranges := slices.Clone(s.repo.ranges)
	s.repo.mu.Unlock()
	if len(ranges) != 1 || !strings.HasPrefix(ranges[0], path+" bytes=") || ranges[0] == path+" bytes=0-" {
		t.Errorf("range requests %v, want one resuming past the start", ranges)
	}
}

func TestUnhealthyVersionRollsBack(t *testing.T) {
	for _, conf := range []string{"unhealthy", "crash"} {
		t.Run(conf, func(t *testing.T) {
			s := newSetup(t)
			s.cfg.HealthTimeout = 500 * time.Millisecond
			s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: conf})
			r, err := s.updater(t).Update(context.Background())
			if err == nil || r.Code != "UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-2.0.0" {
				t.Fatalf("Update = %+v, %v", r, err)
			}
			if s.current(t) != "1.0.0" || s.journal(t).Phase != PhaseRolledBack {
				t.Errorf("current %s, journal %+v", s.current(t), s.journal(t))
			}
			if got := s.svc.started(); !slices.Equal(got, []string{"2.0.0", "1.0.0"}) {
				t.Errorf("started %v, want the new one then the old one", got)
			}
			if err := s.svc.Check(context.Background(), "1.0.0"); err != nil {
				t.Errorf("the old version does not run again: %v", err)
			}
			if _, err := os.Stat(filepath.Join(s.cfg.InstallDir, "versions", "2.0.0")); !os.IsNotExist(err) {
				t.Error("the failed version was kept")
			}
		})
	}
}

func TestSignedManifest(t *testing.T) {
	priv, pub := testKeys(t)
	_, otherPub := testKeys(t)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	rels := []offer{{version: "1.0.0", status: "Deprecated", conf: "ok"}, {version: "2.0.0", status: "Active", conf: "ok"}}
	sign := func(s *setup, m []byte) {
		sig, err := signing.Sign(m, priv)
		if err != nil {
			t.Fatal(err)
		}
		s.repo.put("/ssm-agent-manifest.json.sig", sig)
	}

	s := newSetup(t)
	s.cfg.PublicKeys = []ed25519.PublicKey{otherPub, pub}
	sign(s, s.repo.publish(t, `"ManifestVersion":5,"Expires":"`+future+`",`, rels...))
	if _, err := s.updater(t).check(context.Background(), true); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	// A lower version after 5 was seen: a rollback attack.
	sign(s, s.repo.publish(t, `"ManifestVersion":4,"Expires":"`+future+`",`, rels...))
	if _, err := s.updater(t).Check(context.Background()); !errors.Is(err, ErrStaleManifest) || !strings.Contains(err.Error(), "4 is lower than 5") {
		t.Errorf("lower version: %v", err)
	}
	// Expired.
	sign(s, s.repo.publish(t, `"ManifestVersion":6,"Expires":"`+past+`",`, rels...))
	if _, err := s.updater(t).Check(context.Background()); !errors.Is(err, ErrStaleManifest) {
		t.Errorf("expired: %v", err)
	}
	// Signed by a key that is not configured.
	s.cfg.PublicKeys = []ed25519.PublicKey{otherPub}
	sign(s, s.repo.publish(t, `"ManifestVersion":7,"Expires":"`+future+`",`, rels...))
	if _, err := s.updater(t).Check(context.Background()); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("wrong key: %v", err)
	}
	// No signature at all, and a manifest changed after signing.
	s.cfg.PublicKeys = []ed25519.PublicKey{pub}
	s.repo.put("/ssm-agent-manifest.json.sig", []byte("not a signature"))
	if _, err := s.updater(t).Check(context.Background()); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("garbage signature: %v", err)
	}
	m := s.repo.publish(t, `"ManifestVersion":8,"Expires":"`+future+`",`, rels...)
	sign(s, m)
	s.repo.put("/ssm-agent-manifest.json", []byte(strings.Replace(string(m), `"Active"`, `"Deprecated"`, 1)))
	r, err := s.updater(t).Update(context.Background())
	if !errors.Is(err, signing.ErrBadSignature) || r.Code != "UpdateFailed_SelfUpdate_ErrorDownloadManifest" {
		t.Errorf("tampered manifest: %+v, %v", r, err)
	}
}

func testKeys(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey) {
	privPEM, pubPEM, err := signing.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := signing.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestSignNeedsTrustFields(t *testing.T) {
	priv, _ := testKeys(t)
	if _, err := signing.Sign([]byte(`{"SchemaVersion":"1.0"}`), priv); err == nil {
		t.Error("signed a manifest without ManifestVersion and Expires")
	}
	if _, err := signing.ParsePublicKey([]byte("junk")); err == nil {
		t.Error("parsed a junk public key")
	}
}

func TestLockHeldByLiveProcess(t *testing.T) {
	s := newSetup(t)
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: "ok"})
	u := s.updater(t)
	lk, err := acquireLock(filepath.Join(s.cfg.StateDir, "update.lock")) // held by this live process
	if err != nil {
		t.Fatal(err)
	}
	r, err := u.Update(context.Background())
	if !errors.Is(err, ErrLockBusy) || r.Code != "UpdateFailed_SelfUpdate_ErrorUpdaterLockBusy" || s.current(t) != "1.0.0" {
		t.Errorf("Update under a held lock: %+v, %v", r, err)
	}
	lk.release()
	// What a dead holder left in the file holds nothing.
	os.WriteFile(filepath.Join(s.cfg.StateDir, "update.lock"), []byte(`{"pid":999999999,"start_ticks":1,"boot_id":"x"}`), 0o600)
	if r, err := u.Update(context.Background()); err != nil || r.Code != "UpdateSucceeded_SelfUpdate-2.0.0" {
		t.Errorf("Update over a stale lock file: %+v, %v", r, err)
	}
}

func TestNoSpace(t *testing.T) {
	s := newSetup(t)
	s.cfg.FreeSpace.Margin = 1 << 62 // more than any disk has free
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: "ok"})
	r, err := s.updater(t).Update(context.Background())
	if !errors.Is(err, ErrNoSpace) || s.current(t) != "1.0.0" {
		t.Errorf("Update = %+v, %v", r, err)
	}
}

func TestRecoverWaitsForLiveGuardian(t *testing.T) {
	s := newSetup(t)
	u := s.updater(t)
	j := Journal{Phase: phaseChecking, Source: "1.0.0", Target: "2.0.0"}
	parent := guardianOf(t)
	j.guardian = &parent
	writeJournal(filepath.Join(s.cfg.StateDir, "update.json"), j)
	if _, err := u.Recover(context.Background()); !errors.Is(err, ErrGuardianActive) {
		t.Errorf("Recover with a live guardian = %v", err)
	}
}

func TestManifestETagCache(t *testing.T) {
	s := newSetup(t)
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Active", conf: "ok"})
	u := s.updater(t)
	for range 2 {
		if r, err := u.Update(context.Background()); err != nil || r.Code != "" {
			t.Fatalf("Update with nothing to do = %+v, %v", r, err)
		}
	}
	s.repo.mu.Lock()
	conditional := s.repo.conditional
	s.repo.mu.Unlock()
	if conditional != 1 {
		t.Errorf("%d conditional requests, want the second update check to send If-None-Match", conditional)
	}
}

// TestCheckWritesNothing: a dry run changes nothing anywhere — no state
// directory, no manifest cache, no trust ratchet, no versions directory.
func TestCheckWritesNothing(t *testing.T) {
	s := newSetup(t)
	priv, pub := testKeys(t)
	s.cfg.PublicKeys = []ed25519.PublicKey{pub}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	m := s.repo.publish(t, `"ManifestVersion":7,"Expires":"`+future+`",`, offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: "ok"})
	sig, err := signing.Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	s.repo.put("/ssm-agent-manifest.json.sig", sig)
	os.RemoveAll(s.cfg.StateDir)
	os.RemoveAll(filepath.Join(s.cfg.InstallDir, "versions", "2.0.0"))
	before := treeOf(t, filepath.Dir(s.cfg.StateDir))
	plan, err := s.updater(t).Check(context.Background())
	if err != nil || plan == nil || plan.Decision.Target == nil || plan.Decision.Target.Version.String() != "2.0.0" {
		t.Fatalf("Check = %+v, %v", plan, err)
	}
	if diff := cmp.Diff(before, treeOf(t, filepath.Dir(s.cfg.StateDir))); diff != "" {
		t.Errorf("Check changed the tree (-before +after):\n%s", diff)
	}
	// The ratchet moves with a real check, not a dry run.
	if _, err := s.updater(t).Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := loadTrust(filepath.Join(s.cfg.StateDir, "trust.json"))
	if err != nil || st.HighestManifestVersion != 7 {
		t.Errorf("trust after Update = %+v, %v; want manifest version 7", st, err)
	}
}

// treeOf describes every file under dir: its mode, and its content or
// link target.
func treeOf(t testing.TB, dir string) map[string]string {
	t.Helper()
	tree := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		tree[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestRefusedPackageChangesNothingOutsideState: a package refused — by its
// checksum, or as an unsafe archive — leaves the install directory exactly
// as it was, and nothing in downloads/.
func TestRefusedPackageChangesNothingOutsideState(t *testing.T) {
	for _, tt := range []struct {
		name string
		rel  offer
		want error
	}{
		{"checksum", offer{version: "2.0.0", status: "Active", conf: "ok", checksum: strings.Repeat("ab", 32)}, ErrChecksum},
		{"unsafe", offer{version: "2.0.0", status: "Active", pkg: rawTar(t, reg("../escape", "x"))}, ErrUnsafeArchive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, tt.rel)
			before := treeOf(t, s.cfg.InstallDir)
			_, err := s.updater(t).Update(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Update = %v, want %v", err, tt.want)
			}
			if diff := cmp.Diff(before, treeOf(t, s.cfg.InstallDir)); diff != "" {
				t.Errorf("the install directory changed (-before +after):\n%s", diff)
			}
			if left, _ := os.ReadDir(filepath.Join(s.cfg.StateDir, "downloads")); len(left) != 0 {
				t.Errorf("left in downloads/: %v", left)
			}
		})
	}
}
