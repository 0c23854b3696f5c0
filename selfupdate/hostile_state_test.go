//go:build unix

package selfupdate

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPackageURLKeepsTheManifestsRule: a manifest fetched over https may
// not send the updater to a local file (or another scheme).
func TestPackageURLKeepsTheManifestsRule(t *testing.T) {
	s := newSetup(t)
	local := filepath.Join(t.TempDir(), "amazon-ssm-agent-linux-amd64.tar.gz")
	os.WriteFile(local, []byte("x"), 0o644)
	m := `{"SchemaVersion":"1.0","UriFormat":"file://` + filepath.Dir(local) + `/{FileName}","Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[` +
		`{"Version":"1.0.0","CheckSum":"` + strings.Repeat("a", 64) + `","Status":"Deprecated"},{"Version":"2.0.0","CheckSum":"` + sum([]byte("x")) + `","Status":"Active"}]}]}]}`
	s.repo.put("/ssm-agent-manifest.json", []byte(m))
	_, err := s.updater(t).Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "file URLs are taken only from a file:// manifest") {
		t.Errorf("Check = %v", err)
	}
	for _, tt := range []struct{ manifest, pkg string }{
		{"https://a/m.json", "https://b/p.tar.gz"},
		{"http://127.0.0.1:1/m.json", "http://127.0.0.1:1/p.tar.gz"},
		{"file:///m.json", "file:///p.tar.gz"},
		{"s3://b/m.json", "s3://b/p.tar.gz"},
		{"s3://b/m.json", "https://s3.amazonaws.com/b/p.tar.gz"},
	} {
		if err := checkPackageURL(tt.manifest, tt.pkg); err != nil {
			t.Errorf("checkPackageURL(%s, %s) = %v", tt.manifest, tt.pkg, err)
		}
	}
	for _, tt := range []struct{ manifest, pkg string }{
		{"https://a/m.json", "http://b/p.tar.gz"},
		{"https://a/m.json", "s3://b/p.tar.gz"},
		{"https://a/m.json", "ftp://b/p.tar.gz"},
		{"file:///m.json", "s3://b/p.tar.gz"},
	} {
		if err := checkPackageURL(tt.manifest, tt.pkg); err == nil {
			t.Errorf("checkPackageURL(%s, %s) accepted", tt.manifest, tt.pkg)
		}
	}
}

// TestFIFOsNeverBlock: a FIFO planted at the journal, the trust state, the
// manifest cache, or a file:// package makes an error, never a wait.
func TestFIFOsNeverBlock(t *testing.T) {
	for _, name := range []string{"update.json", "trust.json", "manifest.json"} {
		t.Run(name, func(t *testing.T) {
			s := newSetup(t)
			s.repo.publish(t, "", offer{version: "1.0.0", status: "Active", conf: "ok"})
			if err := syscall.Mkfifo(filepath.Join(s.cfg.StateDir, name), 0o600); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(s.cfg.StateDir, "manifest.json.etag"), []byte(`"x"`), 0o600)
			if name == "trust.json" {
				_, pub := testKeys(t)
				s.cfg.PublicKeys = []ed25519.PublicKey{pub}
			}
			done := make(chan error, 1)
			go func() {
				u := s.updater(t)
				_, err := u.Recover(context.Background())
				if err == nil {
					_, err = u.Update(context.Background())
				}
				done <- err
			}()
			select {
			case err := <-done:
				t.Logf("%s as a FIFO: %v", name, err)
			case <-time.After(10 * time.Second):
				t.Fatalf("blocked on a FIFO at %s", name)
			}
		})
	}
	fifo := filepath.Join(t.TempDir(), "pkg.tar.gz")
	syscall.Mkfifo(fifo, 0o600)
	done := make(chan error, 1)
	go func() {
		_, err := FileSource{}.Open(context.Background(), "file://"+fifo, Request{})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FileSource on a FIFO = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FileSource blocked on a FIFO")
	}
}

// TestLinkedDownloadsRefused: a symbolic link planted at downloads/ is
// refused, and the directory it names keeps its files.
func TestLinkedDownloadsRefused(t *testing.T) {
	s := newSetup(t)
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", conf: "ok"})
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "important.conf"), []byte("keep"), 0o644)
	if err := os.Symlink(victim, filepath.Join(s.cfg.StateDir, "downloads")); err != nil {
		t.Fatal(err)
	}
	_, err := s.updater(t).Update(context.Background())
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Update with downloads/ a link = %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(victim, "important.conf")); err != nil || string(b) != "keep" {
		t.Errorf("the link's target lost its file: %v", err)
	}
	if errors.Is(err, ErrChecksum) {
		t.Error("downloaded through the link")
	}
}
