package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// DefaultMaxBytes is the size limit Parse applies to a manifest.
const DefaultMaxBytes = 16 << 20

// ErrTooLarge is wrapped by the error Parse returns for input over the limit.
var ErrTooLarge = errors.New("manifest too large")

// A Manifest is a parsed, validated SSM agent release manifest
// (ssm-agent-manifest.json).
//
// A Manifest returned by Parse carries an index that makes its queries cost
// the same whatever the number of releases. Its fields must not be modified
// after Parse returns; a Manifest built by hand, not by Parse, answers the
// same queries by scanning.
type Manifest struct {
	// SchemaVersion is the manifest's schema version, "1.0" in every SSM manifest.
	SchemaVersion string
	// ManifestVersion and Expires are the fields a signed manifest carries
	// (see selfupdate/signing): a version that never goes down, and the
	// time after which the manifest is stale. They are zero when absent;
	// SSM's own manifests have neither.
	ManifestVersion uint64
	Expires         time.Time
	// URIFormat is the template of package download URLs; see Manifest.URL.
	URIFormat string
	// Packages are the packages in manifest order.
	Packages []Package

	byName map[string]int // index into Packages; nil unless built by Parse
}

// A Package is one package of the manifest, such as amazon-ssm-agent.
type Package struct {
	Name string
	// Files are the package's per-platform files in manifest order.
	Files []File

	byName map[string]int // index into Files; nil unless built by Parse
}

// A File is one platform's archive of a package, such as
// amazon-ssm-agent-linux-amd64.tar.gz, and the releases available for it.
type File struct {
	Name string
	// Releases are the file's AvailableVersions in manifest order.
	Releases []Release

	idx *fileIndex // nil unless built by Parse
}

// A Release is one available version of a file.
type Release struct {
	Version Version
	// Checksum is the SHA-256 of the file, 64 hexadecimal digits as the
	// manifest spells them (compare case-insensitively).
	Checksum string
	// Status is the release status. A missing or empty status in the
	// manifest reads as StatusActive; any other value is kept as it is.
	Status Status
	// Rollout stages the release across a fleet; nil means open to every
	// agent at once.
	Rollout *Rollout
}

// ParseOptions tune parsing. The zero value is ready to use.
type ParseOptions struct {
	// MaxBytes is the largest manifest accepted, in bytes. Zero or less
	// means DefaultMaxBytes (16 MiB).
	MaxBytes int64
}

// Parse reads, validates and indexes a manifest with the default options.
func Parse(r io.Reader) (*Manifest, error) {
	return ParseOptions{}.Parse(r)
}

// Parse reads a manifest from r, validates it and indexes it for queries.
//
// Keys are matched case-insensitively (real manifests spell CheckSum where
// others write Checksum). Parse reads at most MaxBytes+1 bytes: a larger
// input is refused with an error wrapping ErrTooLarge. Every problem with the
// content is a *ParseError naming the JSON path of the offending value.
func (o ParseOptions) Parse(r io.Reader) (*Manifest, error) {
	limit := o.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	data, err := readLimited(r, limit)
	if err != nil {
		return nil, err
	}
	return parseBytes(data)
}

// readLimited reads all of r, but refuses more than limit bytes. It reads at
// most limit+1 bytes, in one buffer when r can tell its size.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var size int64 = bytes.MinRead
	switch s := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader, bytes.Buffer
		size = int64(s.Len())
	case interface{ Stat() (fs.FileInfo, error) }: // os.File
		if fi, err := s.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, limit) + 1))
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("manifest: read: %w", err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("manifest: %w: over the limit of %d bytes", ErrTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// parseBytes decodes and validates a whole manifest held in memory.
func parseBytes(data []byte) (*Manifest, error) {
	var w wireManifest
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, decodeError(data, err)
	}
	return w.build()
}

// The wire types mirror the JSON schema. Parse decodes into them and then
// validates and converts, so that each problem is reported with its path.
type (
	wireManifest struct {
		SchemaVersion   string
		ManifestVersion uint64
		Expires         string
		UriFormat       string
		Packages        []wirePackage
	}
	wirePackage struct {
		Name  string
		Files []wireFile
		// FileName appears only in EC2Config manifests, a different schema
		// with one file per package; it is decoded to recognise them.
		FileName string
	}
	wireFile struct {
		Name              string
		AvailableVersions []wireRelease
	}
	wireRelease struct {
		Version  string
		CheckSum string
		Status   string
		Rollout  *wireRollout
	}
	wireRollout struct {
		Start  string
		Waves  []Wave
		Groups []Group
		Paused bool
	}
)
