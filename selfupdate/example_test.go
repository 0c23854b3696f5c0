package selfupdate_test

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
	"strings"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
)

// service stands in for the service manager and the health check: it
// "restarts" into a version by remembering it, and calls every version
// healthy.
type service struct{ running string }

func (s *service) Restart(ctx context.Context, version string) error {
	s.running = version
	return nil
}

func (s *service) Check(ctx context.Context, version string) error {
	if s.running != version {
		return fmt.Errorf("%s runs, not %s", s.running, version)
	}
	return nil
}

// An update from a manifest on the local disk (file://): 1.0.0 is
// deprecated, so the updater installs 2.0.0, restarts into it, sees it
// healthy and commits.
func Example() {
	dir, _ := os.MkdirTemp("", "selfupdate-example")
	defer os.RemoveAll(dir)

	// A release: a package holding the agent's binary, and a manifest.
	pkg := tarGz(map[string]string{"myagent": "#!/bin/sh\necho 2.0.0\n"})
	os.WriteFile(filepath.Join(dir, "myagent-linux-amd64.tar.gz"), pkg, 0o644)
	sum := sha256.Sum256(pkg)
	m := fmt.Sprintf(`{"SchemaVersion": "1.0", "UriFormat": "file://%s/{FileName}",
	  "Packages": [{"Name": "myagent", "Files": [{"Name": "myagent-linux-amd64.tar.gz", "AvailableVersions": [
	    {"Version": "1.0.0", "CheckSum": "%s", "Status": "Deprecated"},
	    {"Version": "2.0.0", "CheckSum": "%s", "Status": "Active"}]}]}]}`,
		dir, strings.Repeat("0", 64), hex.EncodeToString(sum[:]))
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(m), 0o644)

	// The running agent, 1.0.0.
	self := filepath.Join(dir, "myagent-1.0.0")
	os.WriteFile(self, []byte("#!/bin/sh\necho 1.0.0\n"), 0o755)
	svc := &service{running: "1.0.0"}
	u, err := selfupdate.New(selfupdate.Config{
		ManifestURL: "file://" + filepath.Join(dir, "manifest.json"),
		Package:     "myagent",
		Platform:    manifest.Platform{Name: manifest.PlatformLinux, Arch: "amd64"},
		Current:     manifest.MustParseVersion("1.0.0"),
		InstallDir:  filepath.Join(dir, "install"),
		StateDir:    filepath.Join(dir, "state"),
		Adopt:       map[string]string{"myagent": self},
		Restarter:   svc,
		Health:      svc,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, _ := u.Check(context.Background()) // a dry run: nothing is written
	fmt.Println(plan.Decision.Action, plan.Decision.Target.Version)

	r, err := u.Update(context.Background())
	fmt.Println(r.Code, r.Succeeded(), err)
	current, _ := selfupdate.Layout{Dir: filepath.Join(dir, "install")}.Current()
	fmt.Println("current:", current, "running:", svc.running)
	// Output:
	// update 2.0.0
	// UpdateSucceeded_SelfUpdate-2.0.0 true <nil>
	// current: 2.0.0 running: 2.0.0
}

func tarGz(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
