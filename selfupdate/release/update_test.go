package release

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	s3src "github.com/ssmkit/ssmkit/selfupdate/s3"
)

// running records which version a restart put in place.
type running struct{ version string }

func (r *running) Restart(_ context.Context, v string) error { r.version = v; return nil }
func (r *running) Check(_ context.Context, v string) error {
	if r.version != v {
		return errors.New(v + " is not running")
	}
	return nil
}

// An agent on loopback updates to a release published with a rollout
// whose wave is open, from the package Publish uploaded.
func TestAgentUpdatesFromPublished(t *testing.T) {
	c := fakeS3(t)
	key, pub := testKey(t)
	ctx := context.Background()
	m := New(testFormat)
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	if _, err := (&Publisher{Target: s3Target(c), Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	ro := &manifest.Rollout{Start: time.Now().Add(-time.Minute), Waves: []manifest.Wave{{Percent: 100}}}
	d2, s2, dir2 := addRelease(t, m, key, "2.0.0", ro)
	if _, err := (&Publisher{Target: s3Target(c), Packages: dir2}).Publish(ctx, d2, s2); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	layout := selfupdate.Layout{Dir: filepath.Join(dir, "install")}
	bin := filepath.Join(dir, "ssm-agent")
	os.WriteFile(bin, []byte("1.0.0"), 0o755)
	if err := layout.Install("1.0.0", map[string]string{"ssm-agent": bin}); err != nil {
		t.Fatal(err)
	}
	layout.Switch("1.0.0")
	svc := &running{version: "1.0.0"}
	u, err := selfupdate.New(selfupdate.Config{
		ManifestURL: manifestURL, Source: selfupdate.Sources{"s3": &s3src.Source{Client: c}},
		Package: testPackage, Platform: manifest.Platform{Name: "linux", Arch: "amd64"},
		Current: manifest.MustParseVersion("1.0.0"), PublicKeys: []ed25519.PublicKey{pub},
		InstallDir: layout.Dir, StateDir: filepath.Join(dir, "state"),
		Restarter: svc, Health: svc, HealthInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := u.Update(ctx)
	if err != nil || r.Code != "UpdateSucceeded_SelfUpdate-2.0.0" {
		t.Fatalf("Update = %+v, %v", r, err)
	}
	if b, _ := os.ReadFile(filepath.Join(layout.Dir, "current", "ssm-agent")); string(b) != "2.0.0" {
		t.Errorf("installed %q", b)
	}
}

// The fake honours S3's conditional writes through the real client, so
// the target's conditions are the store's, not a check before the put.
func TestS3TargetConditions(t *testing.T) {
	c := fakeS3(t)
	tgt := s3Target(c)
	ctx := context.Background()
	put := func(body string, cond Condition) (string, error) {
		return tgt.Put(ctx, "k", strings.NewReader(body), int64(len(body)), nil, cond)
	}
	etag, err := put("one", Condition{IfAbsent: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put("two", Condition{IfAbsent: true}); !errors.Is(err, ErrConflict) {
		t.Errorf("If-None-Match over an object: %v", err)
	}
	if _, err := put("two", Condition{IfETag: `"0123"`}); !errors.Is(err, ErrConflict) {
		t.Errorf("If-Match a stale ETag: %v", err)
	}
	if _, err := put("two", Condition{IfETag: etag}); err != nil {
		t.Errorf("If-Match the ETag: %v", err)
	}
	if _, err := tgt.Put(ctx, "absent", strings.NewReader("x"), 1, nil, Condition{IfETag: etag}); !errors.Is(err, ErrConflict) {
		t.Errorf("If-Match on nothing: %v", err)
	}
	if _, _, err := tgt.Open(ctx, "absent"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of nothing: %v", err)
	}
}
