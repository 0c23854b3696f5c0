package s3

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// running records which version a restart put in place; every version is
// healthy once it runs.
type running struct{ version string }

func (r *running) Restart(ctx context.Context, v string) error { r.version = v; return nil }
func (r *running) Check(ctx context.Context, v string) error {
	if r.version != v {
		return fmt.Errorf("%s is not running", v)
	}
	return nil
}

func TestUpdateFromS3(t *testing.T) {
	c := fakeS3(t, "releases")
	var pkg bytes.Buffer
	zw := gzip.NewWriter(&pkg)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "ssm-agent", Mode: 0o755, Size: 6, Typeflag: tar.TypeReg})
	tw.Write([]byte("v2.0.0"))
	tw.Close()
	zw.Close()
	sum := sha256.Sum256(pkg.Bytes())
	put(t, c, "releases", "amazon-ssm-agent/2.0.0/amazon-ssm-agent-linux-amd64.tar.gz", pkg.Bytes())
	put(t, c, "releases", "ssm-agent-manifest.json", []byte(fmt.Sprintf(`{"SchemaVersion":"1.0",
		"UriFormat":"s3://releases/{PackageName}/{PackageVersion}/{FileName}",
		"Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[
			{"Version":"1.0.0","CheckSum":"%064d","Status":"Deprecated"},
			{"Version":"2.0.0","CheckSum":"%s","Status":"Active"}]}]}]}`, 0, hex.EncodeToString(sum[:]))))

	dir := t.TempDir()
	layout := selfupdate.Layout{Dir: filepath.Join(dir, "install")}
	bin := filepath.Join(dir, "ssm-agent")
	os.WriteFile(bin, []byte("v1.0.0"), 0o755)
	if err := layout.Install("1.0.0", map[string]string{"ssm-agent": bin}); err != nil {
		t.Fatal(err)
	}
	layout.Switch("1.0.0")
	svc := &running{version: "1.0.0"}
	u, err := selfupdate.New(selfupdate.Config{
		ManifestURL: "s3://releases/ssm-agent-manifest.json",
		Source:      selfupdate.Sources{"s3": &Source{Client: c}},
		Platform:    manifest.Platform{Name: "linux", Arch: "amd64"},
		Current:     manifest.MustParseVersion("1.0.0"),
		InstallDir:  layout.Dir, StateDir: filepath.Join(dir, "update"),
		Restarter: svc, Health: svc, HealthInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := u.Update(context.Background())
	if err != nil || r.Code != "UpdateSucceeded_SelfUpdate-2.0.0" {
		t.Fatalf("Update = %+v, %v", r, err)
	}
	if cur, _ := layout.Current(); cur != "2.0.0" {
		t.Errorf("current %s", cur)
	}
	if b, _ := os.ReadFile(filepath.Join(layout.Dir, "current", "ssm-agent")); string(b) != "v2.0.0" {
		t.Errorf("installed %q", b)
	}
}
