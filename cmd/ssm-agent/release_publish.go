package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/selfupdate/release"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// releaseAWS are the flags of the commands that talk to AWS. Credentials
// and endpoints come from the SDK's usual sources (AWS_PROFILE,
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_CLOUDWATCH, …).
type releaseAWS struct {
	region      string
	s3PathStyle bool
}

func (a *releaseAWS) register(fs *flag.FlagSet) {
	fs.StringVar(&a.region, "region", "", "the AWS `REGION` (default: the SDK's, such as AWS_REGION)")
	fs.BoolVar(&a.s3PathStyle, "s3-path-style", false, "address S3 buckets in the path (for S3-compatible stores and local endpoints)")
}

// config loads the SDK's configuration with the region.
func (a *releaseAWS) config(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: give --region or set AWS_REGION")
	}
	return cfg, nil
}

// checkTo checks --to before anything is read.
func checkTo(to string) error {
	switch {
	case to == "":
		return errors.New("--to is required: s3://bucket/prefix or a directory")
	case strings.HasPrefix(to, "s3://"):
		if _, _, err := release.ParseS3URL(to); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
	case strings.Contains(to, "://"):
		return fmt.Errorf("--to %q: publish to s3://bucket/prefix or a local directory", to)
	}
	return nil
}

// target returns the publishing target of --to: s3://bucket/prefix or a
// local directory.
func (a *releaseAWS) target(ctx context.Context, to string) (release.Target, error) {
	if err := checkTo(to); err != nil {
		return nil, err
	}
	if strings.HasPrefix(to, "s3://") {
		bucket, prefix, err := release.ParseS3URL(to)
		if err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
		cfg, err := a.config(ctx)
		if err != nil {
			return nil, err
		}
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = a.s3PathStyle })
		return &release.S3Target{Client: client, Bucket: bucket, Prefix: prefix}, nil
	}
	abs, err := filepath.Abs(to)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	return &release.DirTarget{Dir: abs}, nil
}

const releasePublishSynopsis = `--manifest FILE --to s3://bucket/prefix|DIR [--packages DIR]
                           [--public-key FILE]... [--region REGION] [--s3-path-style]

Publishes the signed manifest FILE (and FILE.sig) in the safe order: every
package it names that the published manifest does not (from --packages DIR,
by file name and SHA-256, at the key its UriFormat gives under the target),
then the signature, then the manifest, as ssm-agent-manifest.json(.sig) at
the target's root. A package already there is kept if it is the same file
and refused otherwise; the signature and manifest are replaced only if they
are still what was read at the start, so of two publishers one fails. A
manifest whose ManifestVersion is not above the published one is refused.
Run it again after any failure to finish.

Flags:`

func runReleasePublish(s streams, g *globals, args []string) int {
	const name = "release publish"
	fs := newFlagSet(s, g, name, releasePublishSynopsis)
	var a releaseAWS
	a.register(fs)
	path := fs.String("manifest", "", "the signed manifest `FILE`; its signature is FILE.sig; required")
	to := fs.String("to", "", "where to publish: `s3://bucket/prefix` or a local directory; required")
	packages := fs.String("packages", "", "the `DIR`ectory of the package files to upload")
	var pubs stringList
	fs.Var(&pubs, "public-key", "an agents' public key `FILE`: refuse a signature none verifies (may be repeated)")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	if *path == "" {
		return usageError(fs, "--manifest is required")
	}
	if err := checkTo(*to); err != nil {
		return usageError(fs, "%v", err)
	}
	keys, err := readPublicKeys(pubs)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	ctx := context.Background()
	rep, err := publish(ctx, &a, *to, *path, *packages, keys)
	if err != nil {
		return failure(s, name, err)
	}
	if rep.UpToDate {
		fmt.Fprintf(s.stdout, "%s is up to date\n", *to)
		return exitOK
	}
	for _, st := range rep.Steps {
		fmt.Fprintf(s.stdout, "%-18s %s\n", st.Kind, st.Key)
	}
	return exitOK
}

// publish reads the manifest FILE and FILE.sig and publishes them to --to.
func publish(ctx context.Context, a *releaseAWS, to, path, packages string, keys []ed25519.PublicKey) (release.Report, error) {
	data, err := atomicfile.ReadFile(path)
	if err != nil {
		return release.Report{}, fmt.Errorf("--manifest: %w", err)
	}
	sig, err := atomicfile.ReadFile(path + ".sig")
	if err != nil {
		return release.Report{}, fmt.Errorf("--manifest: the signature: %w (sign it with release add, pause or resume)", err)
	}
	tgt, err := a.target(ctx, to)
	if err != nil {
		return release.Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	p := &release.Publisher{Target: tgt, Packages: packages, PublicKeys: keys, Region: a.region}
	return p.Publish(ctx, data, sig)
}

// readPublicKeys reads --public-key files.
func readPublicKeys(paths []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, p := range paths {
		data, err := atomicfile.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--public-key: %w", err)
		}
		k, err := signing.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("--public-key %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
