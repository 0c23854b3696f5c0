package manifest_test

import (
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

const exampleManifest = `{
  "SchemaVersion": "1.0",
  "UriFormat": "https://s3.{Region}.amazonaws.com/amazon-ssm-{Region}/{PackageName}/{PackageVersion}/{FileName}",
  "Packages": [{
    "Name": "amazon-ssm-agent",
    "Files": [{
      "Name": "amazon-ssm-agent-linux-amd64.tar.gz",
      "AvailableVersions": [
        {"Version": "3.0.151.0",  "CheckSum": "84fc818a7e21068c47412ddd18d3748a04a16b8f8836a259191920f854c4edc7", "Status": "Deprecated"},
        {"Version": "3.0.1000.0", "CheckSum": "2137c6c149711c3a3ea53aed7d2167bfc9049d9388e36d19f2f400a6fdeac312", "Status": "Active"},
        {"Version": "3.0.999.0",  "CheckSum": "8dcb1072b7b0669b1de53163eb0eec322ceabd7f08fff395d73240ec633181bf"}
      ]
    }]
  }]
}`

func ExampleManifest_Decide() {
	m, err := manifest.Parse(strings.NewReader(exampleManifest))
	if err != nil {
		log.Fatal(err)
	}
	d, err := m.Decide(manifest.Query{
		Package:  "amazon-ssm-agent",
		Platform: manifest.Platform{Name: manifest.PlatformLinux, Arch: "amd64"},
		Current:  manifest.MustParseVersion("3.0.151.0"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Action, d.Target.Version)
	fmt.Println(d.Reason)
	url, err := m.URL("eu-west-1", d.Package, d.File, d.Target.Version)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(url)
	// Output:
	// update 3.0.1000.0
	// current version 3.0.151.0 is Deprecated; 3.0.1000.0 is the latest Active release
	// https://s3.eu-west-1.amazonaws.com/amazon-ssm-eu-west-1/amazon-ssm-agent/3.0.1000.0/amazon-ssm-agent-linux-amd64.tar.gz
}

func ExampleParse() {
	m, err := manifest.Parse(strings.NewReader(exampleManifest))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range m.Packages {
		for _, f := range p.Files {
			for _, r := range f.Releases {
				fmt.Println(f.Name, r.Version, r.Status)
			}
		}
	}
	// Output:
	// amazon-ssm-agent-linux-amd64.tar.gz 3.0.151.0 Deprecated
	// amazon-ssm-agent-linux-amd64.tar.gz 3.0.1000.0 Active
	// amazon-ssm-agent-linux-amd64.tar.gz 3.0.999.0 Active
}

func ExampleParse_error() {
	bad := strings.Replace(exampleManifest, `"3.0.999.0"`, `"3.0.x.0"`, 1)
	_, err := manifest.Parse(strings.NewReader(bad))
	var pe *manifest.ParseError
	if errors.As(err, &pe) {
		fmt.Println(pe.Path)
	}
	fmt.Println(err)
	// Output:
	// Packages[0].Files[0].AvailableVersions[2].Version
	// manifest: Packages[0].Files[0].AvailableVersions[2].Version: invalid version "3.0.x.0": character 'x' at offset 4 is neither a digit nor a dot (want digits separated by dots, like 3.0.151.0)
}

func ExampleCompare() {
	var vs []manifest.Version
	for _, s := range []string{"3.0.1000.0", "3.0.151.0", "1.0.0", "1.0", "3.0.0151.1"} {
		vs = append(vs, manifest.MustParseVersion(s))
	}
	slices.SortFunc(vs, manifest.Compare)
	fmt.Println(vs)
	// Output: [1.0 1.0.0 3.0.151.0 3.0.0151.1 3.0.1000.0]
}

func ExamplePlatform_FileName() {
	fmt.Println(manifest.Platform{Name: manifest.PlatformUbuntu, Arch: "arm64"}.FileName("amazon-ssm-agent"))
	fmt.Println(manifest.Platform{Name: manifest.PlatformWindows, Arch: "amd64"}.FileName("amazon-ssm-agent"))
	// Output:
	// amazon-ssm-agent-ubuntu-arm64.tar.gz
	// amazon-ssm-agent-windows-amd64.zip
}

func ExampleManifestURL() {
	for _, region := range []string{"us-east-1", "cn-north-1"} {
		u, err := manifest.ManifestURL(region, "")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(u)
	}
	// Output:
	// https://s3.us-east-1.amazonaws.com/amazon-ssm-us-east-1/ssm-agent-manifest.json
	// https://s3.cn-north-1.amazonaws.com.cn/amazon-ssm-cn-north-1/ssm-agent-manifest.json
}

func ExampleLinuxPlatform() {
	// Kali names no known ID but is like Debian; Arch is like nothing known.
	fmt.Println(manifest.LinuxPlatform("kali", []string{"debian"}))
	fmt.Println(manifest.LinuxPlatform("arch", nil))
	// Output:
	// ubuntu
	// linux
}

// A release staged in waves: an agent takes it once its wave has opened.
func ExampleRollout_Decide() {
	r := &manifest.Rollout{
		Start: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
		Waves: []manifest.Wave{{Percent: 1, AfterHours: 0}, {Percent: 10, AfterHours: 24}, {Percent: 100, AfterHours: 72}},
	}
	v := manifest.MustParseVersion("3.2.0.0")
	s := r.Decide("i-0123456789abcdef0", "", v, time.Date(2027, 3, 2, 0, 0, 0, 0, time.UTC))
	fmt.Println(s.Position, s.Wave, s.Open, s.OpensAt.Format(time.RFC3339))
	// Output: 27.32 2 false 2027-03-04T00:00:00Z
}
