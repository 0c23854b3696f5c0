// Command manifest shows the manifest package: it reads an SSM agent
// manifest (an embedded sample by default), detects this host's platform,
// and says whether an agent at the given version should update.
//
//	go run ./examples/manifest [-manifest PATH] [-version 3.0.151.0] [-platform NAME] [-region us-east-1]
package main

import (
	"bytes"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/ssmkit/ssmkit/manifest"
)

//go:embed sample-manifest.json
var sample []byte

func main() {
	log.SetFlags(0)
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
	path := fs.String("manifest", "", "manifest file to read (default: an embedded sample)")
	current := fs.String("version", "3.0.151.0", "the agent version this host runs")
	platformName := fs.String("platform", "", "manifest platform name (default: this host's)")
	region := fs.String("region", "us-east-1", "region of the download URL")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var r io.Reader = bytes.NewReader(sample)
	if *path != "" {
		f, err := os.Open(*path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	m, err := manifest.Parse(r)
	if err != nil {
		return err
	}
	v, err := manifest.ParseVersion(*current)
	if err != nil {
		return err
	}
	platform, err := manifest.DetectPlatform("")
	if err != nil {
		return err
	}
	if *platformName != "" {
		platform.Name = *platformName
	}
	d, err := m.Decide(manifest.Query{Package: "amazon-ssm-agent", Platform: platform, Current: v})
	if err != nil {
		return err // for example: no file for this platform in the manifest
	}
	fmt.Fprintf(w, "platform %s, file %s\n%s: %s\n", platform, d.File, d.Action, d.Reason)
	if d.Target != nil {
		url, err := m.URL(*region, d.Package, d.File, d.Target.Version)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "download %s\nsha256   %s\n", url, d.Target.Checksum)
	}
	return nil
}
