package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/release"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// The release commands: thin wrappers of selfupdate/release, so that a
// release is published without editing JSON by hand.

const releaseSynopsis = `add|pause|resume|status|publish [flags]

Publishes releases of a custom distribution:

  add       add a version to a manifest for every package file, signed
  pause     pause a release's rollout (agents that have not taken it wait)
  resume    resume a paused rollout where its schedule has got to
  status    each release's update results in CloudWatch, and whether it is
            paused; with --halt, pause the releases that fail
  publish   upload the packages, then the signature, then the manifest

The manifest (--manifest FILE) is a local copy, signed into FILE.sig by add,
pause and resume; publish puts both on s3://bucket/prefix or a directory.
Run 'ssm-agent release <command> --help' for the flags of each.`

var releaseCommands = map[string]func(streams, *globals, []string) int{
	"add": runReleaseAdd, "pause": runReleasePause, "resume": runReleaseResume,
	"status": runReleaseStatus, "publish": runReleasePublish,
}

func runRelease(s streams, g *globals, args []string) int {
	if len(args) > 0 {
		if run, ok := releaseCommands[args[0]]; ok {
			return run(s, g, args[1:])
		}
	}
	fs := newFlagSet(s, g, "release", releaseSynopsis)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), "Usage: ssm-agent release %s\n", releaseSynopsis) }
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	return usageError(fs, "which release command? add, pause, resume, status or publish")
}

// stringList is a flag that may be given many times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// parseInterleaved parses flags and positional arguments in any order, and
// returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) (rest []string, status int, stop bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, true
			}
			return nil, exitUsage, true
		}
		if fs.NArg() == 0 {
			return rest, 0, false
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseDays reads a duration, allowing a whole number of days such as 30d.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 720h or 30d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 720h or 30d", s)
	}
	return d, nil
}

// releaseFiles are the flags of the commands that edit a manifest.
type releaseFiles struct {
	manifest, key, pkg, expiresIn string
}

func (f *releaseFiles) register(fs *flag.FlagSet) {
	fs.StringVar(&f.manifest, "manifest", "", "the manifest `FILE` to edit; its signature goes to FILE.sig; required")
	fs.StringVar(&f.key, "key", "", "the private key `FILE` from ssm-agent keygen; required")
	fs.StringVar(&f.pkg, "package", "amazon-ssm-agent", "the package `NAME`")
	fs.StringVar(&f.expiresIn, "expires-in", "30d", "how long agents accept the signed manifest: a `DURATION` over 1h, such as 720h or 30d")
}

// check reports a missing or bad flag; it returns the expiry and the --version asked for.
func (f *releaseFiles) check(ver string) (time.Duration, manifest.Version, error) {
	switch {
	case f.manifest == "":
		return 0, manifest.Version{}, errors.New("--manifest is required")
	case f.key == "":
		return 0, manifest.Version{}, errors.New("--key is required")
	case f.pkg == "":
		return 0, manifest.Version{}, errors.New("--package must not be empty")
	}
	expiresIn, err := parseExpiresIn(f.expiresIn)
	if err != nil {
		return 0, manifest.Version{}, err
	}
	v, err := manifest.ParseVersion(ver)
	if err != nil || ver == "" {
		return 0, manifest.Version{}, fmt.Errorf("--version %q: want a version such as 3.2.0.0", ver)
	}
	return expiresIn, v, nil
}

// parseExpiresIn reads --expires-in: more than release.MinExpiry, since
// agents refuse a manifest once it expires.
func parseExpiresIn(s string) (time.Duration, error) {
	d, err := parseDays(s)
	if err != nil || d <= release.MinExpiry {
		return 0, fmt.Errorf("--expires-in %q: want more than %v (agents refuse the manifest once it expires), such as 720h or 30d", s, release.MinExpiry)
	}
	return d, nil
}

// readLocalManifest reads the manifest FILE; a missing one is nil.
func readLocalManifest(path string) (*manifest.Manifest, error) {
	data, err := atomicfile.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// readPrivateKey reads the --key file.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	keyPEM, err := atomicfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	key, err := signing.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", path, err)
	}
	return key, nil
}

// sealAndWrite signs m and writes it to FILE and FILE.sig.
func sealAndWrite(f *releaseFiles, m *manifest.Manifest, expiresIn time.Duration) ([]byte, error) {
	key, err := readPrivateKey(f.key)
	if err != nil {
		return nil, err
	}
	data, sig, err := release.Seal(m, key, time.Now().Add(expiresIn))
	if err != nil {
		return nil, err
	}
	return data, writeSigned(f.manifest, data, sig)
}

// writeSigned writes FILE.sig, then FILE, each atomically, mode 0644.
func writeSigned(path string, data, sig []byte) error {
	if err := atomicfile.WriteFile(path+".sig", sig, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

const releaseAddSynopsis = `--manifest FILE --key FILE --version V [--package NAME]
                       [--file PATH]... [PATH...] [--deprecate-older]
                       [--waves P@H,...] [--groups NAME@H,...] [--start TIME]
                       [--expires-in DURATION] [--uri-format FORMAT]

Adds version V of the package to the manifest FILE, one release per package
file (its manifest name is the file's base name; its SHA-256 is computed):
status Active, with the rollout plan given, ManifestVersion raised by one,
Expires set, and signed into FILE.sig. A FILE that does not exist is made,
with --uri-format. --deprecate-older marks the older Active versions
Deprecated, so that agents on them update.

A rollout: --waves "1@0,10@24,100@72" opens the release to 1 % of the fleet
at --start, 10 % 24 hours later, all after 72; --groups "canary@0,prod@48"
opens it to the agents of a SelfUpdate.Group at its delay. --start is an RFC
3339 time (default: now). Without --waves and --groups the release is open
to every agent at once.

Flags:`

func runReleaseAdd(s streams, g *globals, args []string) int {
	const name = "release add"
	fs := newFlagSet(s, g, name, releaseAddSynopsis)
	var f releaseFiles
	f.register(fs)
	var files stringList
	fs.Var(&files, "file", "a package `PATH` (may be given many times; paths may also follow the flags)")
	ver := fs.String("version", "", "the new `V`ersion; required")
	deprecate := fs.Bool("deprecate-older", false, "mark the package's older Active versions Deprecated")
	waves := fs.String("waves", "", "the rollout's waves: `PERCENT@HOURS`, comma-separated, such as 1@0,10@24,100@72")
	groups := fs.String("groups", "", "the rollout's groups: `NAME@HOURS`, comma-separated, such as canary@0,prod@48")
	start := fs.String("start", "", "when the rollout starts, an RFC 3339 `TIME` (default: now)")
	uriFormat := fs.String("uri-format", "", "the package URL `FORMAT` of a new manifest, such as s3://bucket/prefix/{PackageName}/{PackageVersion}/{FileName}")
	rest, status, stop := parseInterleaved(fs, args)
	if stop {
		return status
	}
	files = append(files, rest...)
	expiresIn, v, err := f.check(*ver)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	if len(files) == 0 {
		return usageError(fs, "no package files: give them with --file or after the flags")
	}
	now := time.Now()
	ro, err := rolloutFlags(*waves, *groups, *start, now)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	m, err := readLocalManifest(f.manifest)
	switch {
	case err != nil:
		return failure(s, name, err)
	case m == nil && *uriFormat == "":
		return usageError(fs, "%s does not exist: give --uri-format to make it", f.manifest)
	case m == nil:
		m = release.New(*uriFormat)
	case *uriFormat != "" && *uriFormat != m.URIFormat:
		return usageError(fs, "--uri-format %q: %s has UriFormat %q", *uriFormat, f.manifest, m.URIFormat)
	}
	if err := (release.Add{Package: f.pkg, Version: v, Files: files, DeprecateOlder: *deprecate, Rollout: ro}).Apply(m, now); err != nil {
		return failure(s, name, err)
	}
	if _, err := sealAndWrite(&f, m, expiresIn); err != nil {
		return failure(s, name, err)
	}
	fmt.Fprintf(s.stdout, "added %s %s (%d files) to %s: ManifestVersion %d, expires %s; signature %s.sig\n",
		f.pkg, v, len(files), f.manifest, m.ManifestVersion, m.Expires.Format(time.RFC3339), f.manifest)
	return exitOK
}

// rolloutFlags builds the rollout of --waves, --groups and --start; nil
// when there are neither waves nor groups.
func rolloutFlags(waves, groups, start string, now time.Time) (*manifest.Rollout, error) {
	ro := &manifest.Rollout{Start: now.UTC().Truncate(time.Second)}
	var err error
	if ro.Waves, err = manifest.ParseWaves(waves); err != nil {
		return nil, fmt.Errorf("--waves %q: %v", waves, err)
	}
	if ro.Groups, err = manifest.ParseGroups(groups); err != nil {
		return nil, fmt.Errorf("--groups %q: %v", groups, err)
	}
	if start != "" {
		if ro.Start, err = time.Parse(time.RFC3339, start); err != nil {
			return nil, fmt.Errorf("--start %q: want an RFC 3339 time, such as 2027-01-31T02:00:00Z", start)
		}
	}
	if len(ro.Waves) == 0 && len(ro.Groups) == 0 {
		if start != "" {
			return nil, errors.New("--start needs --waves or --groups")
		}
		return nil, nil
	}
	if err := ro.Check(now); err != nil {
		return nil, fmt.Errorf("--waves/--groups/--start: %v", err)
	}
	return ro, nil
}

const releasePauseSynopsis = `--manifest FILE --key FILE --version V [--package NAME] [--expires-in DURATION]

%s the rollout of version V of the package in every file of the manifest,
raises ManifestVersion and signs it into FILE.sig; publish it with
ssm-agent release publish.%s

Flags:`

func runReleasePause(s streams, g *globals, args []string) int {
	return runPauseResume(s, g, args, "release pause", true)
}

func runReleaseResume(s streams, g *globals, args []string) int {
	return runPauseResume(s, g, args, "release resume", false)
}

func runPauseResume(s streams, g *globals, args []string, name string, paused bool) int {
	synopsis := fmt.Sprintf(releasePauseSynopsis, "Resumes", "\nThe schedule goes on where the clock has got to.")
	if paused {
		synopsis = fmt.Sprintf(releasePauseSynopsis, "Pauses", "\nAgents that have not taken the release do not, until it is resumed.")
	}
	fs := newFlagSet(s, g, name, synopsis)
	var f releaseFiles
	f.register(fs)
	ver := fs.String("version", "", "the release's `V`ersion; required")
	if status, stop := parseFlags(fs, args); stop {
		return status
	}
	expiresIn, v, err := f.check(*ver)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	m, err := readLocalManifest(f.manifest)
	if err == nil && m == nil {
		err = fmt.Errorf("--manifest %s: %w", f.manifest, os.ErrNotExist)
	}
	if err != nil {
		return failure(s, name, err)
	}
	n, err := release.Pause(m, f.pkg, v, paused)
	if err != nil {
		return failure(s, name, fmt.Errorf("--version %s: %w", v, err))
	}
	if n == 0 {
		fmt.Fprintf(s.stdout, "%s %s: nothing to change (already %s)\n", f.pkg, v, map[bool]string{true: "paused", false: "not paused"}[paused])
		return exitOK
	}
	if _, err := sealAndWrite(&f, m, expiresIn); err != nil {
		return failure(s, name, err)
	}
	fmt.Fprintf(s.stdout, "%s %s %s in %d files of %s: ManifestVersion %d; signature %s.sig\n",
		map[bool]string{true: "paused", false: "resumed"}[paused], f.pkg, v, n, f.manifest, m.ManifestVersion, f.manifest)
	return exitOK
}
