package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// Errors of Publish, beside ErrConflict.
var (
	// ErrStale: the published manifest's ManifestVersion is not below the
	// one to publish (the local copy is behind, or another publisher
	// published since it was made): edit the published manifest instead.
	ErrStale = errors.New("the published manifest is as new or newer")
	// ErrMissingPackage: the manifest names a package file that is
	// neither in Publisher.Packages nor at the target.
	ErrMissingPackage = errors.New("package file not found")
)

// The kinds of a publishing Step.
const (
	StepPackageUploaded = "package uploaded"   // a package file was put
	StepPackagePresent  = "package present"    // it was at the target already, same SHA-256
	StepSignature       = "signature"          // the .sig was put
	StepManifest        = "manifest"           // the manifest was put: the release is out
	StepRestored        = "signature restored" // the manifest's put failed; the old .sig is back
	StepSignatureAlone  = "signature alone"    // the manifest is up; the .sig holds its signature alone
)

// A Step is one thing Publish did, in order.
type Step struct {
	Kind string
	Key  string // under the target's root
}

// A Report says what Publish did.
type Report struct {
	Steps []Step
	// Replaced is the ManifestVersion of the manifest that was published
	// before (0 when there was none).
	Replaced uint64
	// UpToDate says the target held this manifest and signature already.
	UpToDate bool
}

// A Publisher puts sealed manifests on a Target.
type Publisher struct {
	// Target is where to publish; required.
	Target Target
	// ManifestName is the manifest's key under the root; default
	// DefaultManifestName. The signature goes at ManifestName + ".sig".
	ManifestName string
	// Packages is the directory holding the package files to upload, by
	// their manifest file names; each is uploaded as the release whose
	// checksum its SHA-256 is. Empty means no local files: every package
	// the manifest names must be at the target already.
	Packages string
	// Region fills {Region} in the UriFormat.
	Region string
	// OnStep, when set, is told each step as soon as it is done (a test
	// may stop the process there).
	OnStep func(Step)
	// MaxManifestBytes bounds the published manifest read back; default
	// manifest.DefaultMaxBytes.
	MaxManifestBytes int64
	// PublicKeys, when set, are the agents' keys: a signature that none of
	// them verifies is refused before anything is written, and the lines
	// of the published .sig that they verify for the published manifest
	// are kept beside the new signature (see Publish).
	PublicKeys []ed25519.PublicKey
}

// Publish publishes a manifest (data) and its signature (sig), as Seal
// returns them, in the safe order: the packages it names that the
// published manifest does not name with the same checksum (created only
// where absent; one already there is kept if its SHA-256 is the
// release's, else Publish fails with ErrConflict), then the signature
// beside the old one (an agent that reads the old manifest meanwhile
// still verifies it: see below), then the manifest, then the signature
// alone (what agents that read one signature need), each replaced only if
// still what Publish read at its start (ErrConflict otherwise). A Target
// that is a Locker is locked for the whole publish: when another publish
// holds it, Publish fails at once with ErrConflict. A manifest whose
// ManifestVersion is not above the published one's fails with ErrStale;
// one whose Expires is not more than MinExpiry from now is refused. When
// the manifest's put fails, the old signature is put back. Running
// Publish again after any failure or kill finishes the job.
//
// The .sig put beside the old one holds first the old lines that sign the
// published manifest (those PublicKeys verify; without PublicKeys, the
// old .sig's first line), then the new signature, then the other old
// lines, up to signing.MaxSignatures: so the published manifest's
// signature is kept however many publishes in a row are interrupted
// before their manifest's upload.
func (p *Publisher) Publish(ctx context.Context, data, sig []byte) (Report, error) {
	var rep Report
	m, err := p.check(data, sig)
	if err != nil {
		return rep, err
	}
	if l, ok := p.Target.(Locker); ok {
		unlock, err := l.Lock(ctx)
		if err != nil {
			return rep, err
		}
		defer unlock()
	}
	mkey := p.ManifestName
	if mkey == "" {
		mkey = DefaultManifestName
	}
	skey := mkey + ".sig"
	old, oldETag, err := p.get(ctx, mkey)
	if err != nil {
		return rep, err
	}
	oldSig, oldSigETag, err := p.get(ctx, skey)
	if err != nil {
		return rep, err
	}
	var published *manifest.Manifest
	if old != nil {
		if bytes.Equal(old, data) && bytes.Equal(oldSig, sig) {
			rep.UpToDate = true
			return rep, nil
		}
		if published, err = manifest.Parse(bytes.NewReader(old)); err == nil {
			rep.Replaced = published.ManifestVersion
			if published.ManifestVersion >= m.ManifestVersion && !bytes.Equal(old, data) {
				return rep, fmt.Errorf("release: publish %s: %w: ManifestVersion %d is published, this is %d", p.Target, ErrStale, published.ManifestVersion, m.ManifestVersion)
			}
		}
	}
	if err := p.packages(ctx, m, published, &rep); err != nil {
		return rep, err
	}
	// While the old manifest may still be read, the .sig holds both
	// signatures, so either manifest verifies (signing.Verify).
	both := sig
	if oldSig != nil {
		both = p.joinSignatures(sig, oldSig, old)
	}
	sigETag, err := p.Target.Put(ctx, skey, bytes.NewReader(both), int64(len(both)), nil, condition(oldSig != nil, oldSigETag))
	if err != nil {
		return rep, fmt.Errorf("release: publish signature: %w", err)
	}
	p.step(&rep, StepSignature, skey)
	if _, err := p.Target.Put(ctx, mkey, bytes.NewReader(data), int64(len(data)), nil, condition(old != nil, oldETag)); err != nil {
		err = fmt.Errorf("release: publish manifest: %w", err)
		if oldSig != nil {
			if _, rerr := p.Target.Put(ctx, skey, bytes.NewReader(oldSig), int64(len(oldSig)), nil, Condition{IfETag: sigETag}); rerr != nil {
				return rep, fmt.Errorf("%w; and the old signature could not be put back (%v): run publish again", err, rerr)
			}
			p.step(&rep, StepRestored, skey)
		}
		return rep, err
	}
	p.step(&rep, StepManifest, mkey)
	if !bytes.Equal(both, sig) {
		if _, err := p.Target.Put(ctx, skey, bytes.NewReader(sig), int64(len(sig)), nil, Condition{IfETag: sigETag}); err != nil {
			return rep, fmt.Errorf("release: publish: the manifest is published, but its .sig could not be cut to the new signature alone (%w): agents verify the manifest only while the .sig holds its signature; check the target and run publish again", err)
		}
		p.step(&rep, StepSignatureAlone, skey)
	}
	return rep, nil
}

// joinSignatures returns the .sig to put while the old manifest (old,
// signed in oldSig) may still be read: the old lines that sign it first,
// then the new signature, then the other old lines, newest first, up to
// signing.MaxSignatures. The lines that sign the old manifest are those
// that one of PublicKeys verifies; without keys, the first line — which
// this order keeps the live manifest's signature after a publish
// interrupted before its manifest's upload, however many in a row.
func (p *Publisher) joinSignatures(sig, oldSig, old []byte) []byte {
	var live, rest []string
	for i, line := range sigLines(oldSig) {
		raw, _ := base64.StdEncoding.DecodeString(line)
		signs := i == 0
		if len(p.PublicKeys) > 0 {
			signs = false
			for _, k := range p.PublicKeys {
				signs = signs || ed25519.Verify(k, old, raw)
			}
		}
		if signs {
			live = append(live, line)
		} else {
			rest = append(rest, line)
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, group := range [][]string{live, sigLines(sig), rest} {
		for _, line := range group {
			if !seen[line] && len(out) < signing.MaxSignatures {
				seen[line] = true
				out = append(out, line)
			}
		}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// sigLines returns the lines of a .sig that are ed25519 signatures.
func sigLines(sig []byte) []string {
	var out []string
	for _, line := range strings.Fields(string(sig)) {
		if raw, err := base64.StdEncoding.DecodeString(line); err == nil && len(raw) == ed25519.SignatureSize {
			out = append(out, line)
		}
	}
	return out
}

// check reads and checks the manifest to publish before anything is read
// from the target.
func (p *Publisher) check(data, sig []byte) (*manifest.Manifest, error) {
	if p.Target == nil {
		return nil, errors.New("release: Publisher.Target is nil")
	}
	m, err := manifest.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("release: publish: %w", err)
	}
	if m.ManifestVersion == 0 || m.Expires.IsZero() || len(bytes.TrimSpace(sig)) == 0 {
		return nil, errors.New("release: publish: the manifest is not sealed (ManifestVersion, Expires and a signature are needed: see Seal)")
	}
	if min := time.Now().Add(MinExpiry); !m.Expires.After(min) {
		return nil, fmt.Errorf("release: publish: the manifest's Expires %s is not more than %v from now: agents would refuse it as stale; seal it again with a later Expires", m.Expires.Format(time.RFC3339), MinExpiry)
	}
	if len(p.PublicKeys) > 0 {
		if _, err := signing.Verify(data, sig, p.PublicKeys); err != nil {
			return nil, fmt.Errorf("release: publish: %w", err)
		}
	}
	if cb, ok := p.Target.(interface{ CheckBase(string) error }); ok {
		if err := cb.CheckBase(Base(m.URIFormat)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// condition is IfETag etag for an object that was there, IfAbsent else.
func condition(existed bool, etag string) Condition {
	if existed {
		return Condition{IfETag: etag}
	}
	return Condition{IfAbsent: true}
}

func (p *Publisher) step(rep *Report, kind, key string) {
	s := Step{Kind: kind, Key: key}
	rep.Steps = append(rep.Steps, s)
	if p.OnStep != nil {
		p.OnStep(s)
	}
}

// get reads a small object; nil and no error when there is none.
func (p *Publisher) get(ctx context.Context, key string) ([]byte, string, error) {
	rc, etag, err := p.Target.Open(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	limit := p.MaxManifestBytes
	if limit <= 0 {
		limit = manifest.DefaultMaxBytes
	}
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("release: read %s%s: %w", p.Target, key, err)
	}
	if int64(len(b)) > limit {
		return nil, "", fmt.Errorf("release: %s%s: over %d bytes", p.Target, key, limit)
	}
	return b, etag, nil
}

// packages makes sure every package m names and published does not is
// at the target.
func (p *Publisher) packages(ctx context.Context, m, published *manifest.Manifest, rep *Report) error {
	local := map[string]string{} // file name → SHA-256, "" when absent
	for _, pkg := range m.Packages {
		for _, f := range pkg.Files {
			for _, r := range f.Releases {
				if known(published, pkg.Name, f.Name, r) {
					continue
				}
				key, err := PackageKey(m, p.Region, pkg.Name, f.Name, r.Version)
				if err != nil {
					return err
				}
				sum, ok := local[f.Name]
				if !ok {
					if sum, err = p.localSum(f.Name); err != nil {
						return err
					}
					local[f.Name] = sum
				}
				if err := p.ensure(ctx, key, f.Name, strings.ToLower(r.Checksum), sum == strings.ToLower(r.Checksum), rep); err != nil {
					return fmt.Errorf("release: publish %s %s %s: %w", pkg.Name, f.Name, r.Version, err)
				}
			}
		}
	}
	return nil
}

// known reports whether the published manifest names r with its checksum.
func known(published *manifest.Manifest, pkg, file string, r manifest.Release) bool {
	if published == nil {
		return false
	}
	pp, err := published.Package(pkg)
	if err != nil {
		return false
	}
	for _, f := range pp.Files {
		if f.Name != file {
			continue
		}
		for _, pr := range f.Releases {
			if manifest.Compare(pr.Version, r.Version) == 0 && strings.EqualFold(pr.Checksum, r.Checksum) {
				return true
			}
		}
	}
	return false
}

// localSum returns the SHA-256 of Packages/name, or "" when there is none.
func (p *Publisher) localSum(name string) (string, error) {
	if p.Packages == "" {
		return "", nil
	}
	sum, err := FileChecksum(p.Packages + string(os.PathSeparator) + name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return sum, err
}

// ensure uploads the local file (when upload) or checks the target's.
func (p *Publisher) ensure(ctx context.Context, key, name, want string, upload bool, rep *Report) error {
	if upload {
		f, err := openInput(p.Packages + string(os.PathSeparator) + name)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		raw, _ := hex.DecodeString(want)
		_, err = p.Target.Put(ctx, key, f, fi.Size(), raw, Condition{IfAbsent: true})
		if err == nil {
			p.step(rep, StepPackageUploaded, key)
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	got, err := p.remoteSum(ctx, key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: no file %s of that checksum in %q, and nothing at %s%s", ErrMissingPackage, name, p.Packages, p.Target, key)
	case err != nil:
		return err
	case got != want:
		return fmt.Errorf("%w: %s%s is published with SHA-256 %s, not the release's %s; not overwritten (publish a new version)", ErrConflict, p.Target, key, got, want)
	}
	p.step(rep, StepPackagePresent, key)
	return nil
}

// remoteSum hashes the object at key as a stream.
func (p *Publisher) remoteSum(ctx context.Context, key string) (string, error) {
	rc, _, err := p.Target.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("read %s%s: %w", p.Target, key, err)
	}
	return sumHex(h), nil
}
