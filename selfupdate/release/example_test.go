package release_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/release"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// A release added, sealed and published to a local directory: the
// package first, then the signature, then the manifest.
func Example() {
	work, _ := os.MkdirTemp("", "release")
	defer os.RemoveAll(work)
	dist, site := filepath.Join(work, "dist"), filepath.Join(work, "site")
	os.Mkdir(dist, 0o755)
	os.Mkdir(site, 0o755)
	os.WriteFile(filepath.Join(dist, "my-agent-linux-amd64.tar.gz"), []byte("the package"), 0o644)
	privPEM, _, _ := signing.GenerateKey()
	key, _ := signing.ParsePrivateKey(privPEM)

	m := release.New("https://releases.example.com/{PackageName}/{PackageVersion}/{FileName}")
	now := time.Now()
	waves, _ := manifest.ParseWaves("1@0,10@24,100@72")
	err := release.Add{
		Package: "my-agent", Version: manifest.MustParseVersion("1.2.0"),
		Files:   []string{filepath.Join(dist, "my-agent-linux-amd64.tar.gz")},
		Rollout: &manifest.Rollout{Start: now, Waves: waves},
	}.Apply(m, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	data, sig, err := release.Seal(m, key, now.Add(30*24*time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := &release.Publisher{Target: &release.DirTarget{Dir: site}, Packages: dist}
	rep, err := p.Publish(context.Background(), data, sig)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ManifestVersion", m.ManifestVersion)
	for _, s := range rep.Steps {
		fmt.Println(s.Kind, s.Key)
	}
	// Output:
	// ManifestVersion 1
	// package uploaded my-agent/1.2.0/my-agent-linux-amd64.tar.gz
	// signature ssm-agent-manifest.json.sig
	// manifest ssm-agent-manifest.json
}
