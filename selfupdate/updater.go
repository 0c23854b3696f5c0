package selfupdate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssmkit/ssmkit/internal/atomicfile"
	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// A Restarter restarts the service into a version: the one current now
// points at. It returns once the restart is under way.
type Restarter interface {
	Restart(ctx context.Context, version string) error
}

// A HealthChecker says whether a version runs well: nil when it does ("the
// new core runs and its workers are ready"). It is asked repeatedly until
// it says so or the deadline passes.
type HealthChecker interface {
	Check(ctx context.Context, version string) error
}

// A Launcher starts the guardian: a process that survives the restart (the
// old binary, detached) and calls Updater.RunGuardian to restart into the
// new version, check it, and commit or roll back. Launch returns the
// guardian's process id, which the journal records: while that process
// lives no second guardian is started. Without a Launcher the gate runs in
// the updating process itself, which then must survive the restart.
//
// An update after its switch is never left without a guardian: Recover
// (at start-up, and whenever it is called again, as a running core should
// every few seconds) launches a new one when the journal's guardian has
// died, and the new one takes over where the other stopped, within the
// same health deadline.
type Launcher interface {
	// Launch starts the guardian of an update whose source version — the
	// one it started from, known to work — is complete in sourceDir (""
	// when the layout does not have it).
	Launch(ctx context.Context, sourceDir string) (pid int, err error)
}

// Defaults of Config.
const (
	DefaultPackage          = "amazon-ssm-agent"
	DefaultHealthTimeout    = 3 * time.Minute
	DefaultHealthInterval   = 5 * time.Second
	DefaultMaxPackageBytes  = 1 << 30
	DefaultDownloadTimeout  = 30 * time.Minute
	DefaultMaxEntries       = 10000
	DefaultMaxUnpackedBytes = 4 << 30
)

// Config configures an Updater. Current, InstallDir and StateDir are
// required; ManifestURL for Check and Update, and Restarter and Health for
// Update, Recover and RunGuardian (which need no manifest); every other zero
// value means the documented default.
type Config struct {
	// ManifestURL is where the manifest is (https, file or s3 with
	// selfupdate/s3).
	ManifestURL string
	// Source fetches by URL; default NewSources(nil).
	Source Source
	// Package is the manifest package; default amazon-ssm-agent (SSM's:
	// set your own).
	Package string
	// Platform selects the file; default manifest.DetectPlatform's, in
	// SSM's names (ubuntu for Debian and its derivatives); a manifest with
	// one Linux file wants manifest.OSPlatform().
	Platform manifest.Platform
	// Region fills {Region} in the manifest's URI format.
	Region string
	// Current is the running version.
	Current manifest.Version
	// AllowDowngrade lets an update go to an older version.
	AllowDowngrade bool
	// PublicKeys, when set, make a valid detached signature by one of them
	// (<ManifestURL>.sig), a manifest version that never goes down and an
	// expiry that has not passed required.
	PublicKeys []ed25519.PublicKey
	// InstallDir holds versions/ and current (see Layout).
	InstallDir string
	// Adopt, when set, names the running version's files (name in the
	// version directory → path, such as {"ssm-agent": os.Executable()}):
	// before an update, with the update lock held and no update under
	// way, they are installed as version Current if the layout lacks it,
	// and current is made to point at it if it points nowhere — so that an
	// agent started from elsewhere has a version to roll back to.
	Adopt map[string]string
	// StateDir holds the journal, the lock, downloads, staging and trust
	// state; created with mode 0700.
	StateDir string
	// Restarter, Health and Launcher run the health gate.
	Restarter Restarter
	Health    HealthChecker
	Launcher  Launcher
	// HealthTimeout bounds the wait for a healthy version; default 3 min.
	HealthTimeout time.Duration
	// HealthInterval is the time between health checks; default 5 s.
	HealthInterval time.Duration
	// Limits of downloads and unpacking; defaults manifest.DefaultMaxBytes,
	// DefaultMaxPackageBytes, DefaultMaxUnpackedBytes, DefaultMaxEntries
	// and DefaultDownloadTimeout.
	MaxManifestBytes, MaxPackageBytes, MaxUnpackedBytes int64
	MaxEntries                                          int
	DownloadTimeout                                     time.Duration
	// FreeSpace is the room an update wants before it downloads: the
	// rest of the package, twice the package to unpack it, and 8 MiB (see
	// SpaceRule); the zero value is that default.
	FreeSpace SpaceRule
	// OnResult is told every update's outcome.
	OnResult func(Result)
	// OnCheck, when set, is told after each of Serve's scheduled checks
	// its plan (nil when the manifest could not be read or decided on)
	// and when Serve checks next: what a status display shows.
	OnCheck func(plan *Plan, next time.Time)
	// OnError, when set, is told what Serve meets that is no update's
	// result: a Recover that fails, an update that could not start.
	OnError func(error)
	// Schedule says when Serve checks for updates.
	Schedule Schedule
	// InstanceID places the agent in a release's rollout waves (see
	// manifest.Position); "" places it in the last wave.
	InstanceID string
	// Group is the agent's rollout group (SelfUpdate.Group): a rollout
	// that lists it opens for the agent at the group's time; "" is none.
	Group string
	// Window is when Serve may install an update; nil or the zero Window
	// means at any time. A due update waits for it; Update, the
	// operator's, does not.
	Window *Window
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// An Updater updates the running agent when the manifest says its version
// is deprecated, crash-safely and with rollback.
type Updater struct {
	cfg     Config
	layout  Layout
	serving atomic.Bool
	// lastReported is the key of the last journal result told to
	// OnResult, beside its file (a disk that cannot take it must not make
	// it told again and again).
	reportMu     sync.Mutex
	lastReported string
	// rand(n) is a random number in [0, n): Serve's jitter.
	rand func(n int64) int64
}

// New checks cfg and returns an Updater. It starts nothing.
func New(cfg Config) (*Updater, error) {
	switch {
	case cfg.Current.IsZero():
		return nil, errors.New("selfupdate: Config.Current is empty")
	case cfg.InstallDir == "" || cfg.StateDir == "":
		return nil, errors.New("selfupdate: Config.InstallDir and StateDir are required")
	case cfg.HealthTimeout < 0 || cfg.HealthInterval < 0 || cfg.DownloadTimeout < 0:
		return nil, errors.New("selfupdate: Config durations must not be negative")
	}
	if cfg.Source == nil {
		cfg.Source = NewSources(nil)
	}
	if cfg.Package == "" {
		cfg.Package = DefaultPackage
	}
	if cfg.Platform.Name == "" {
		p, err := manifest.DetectPlatform("")
		if err != nil {
			return nil, err
		}
		cfg.Platform.Name = p.Name
		if cfg.Platform.Arch == "" {
			cfg.Platform.Arch = p.Arch
		}
	}
	s := &cfg.Schedule
	switch {
	case s.Days < 0 || s.Days > 7:
		return nil, fmt.Errorf("selfupdate: Config.Schedule.Days %d: want 1 to 7 (0: %d)", s.Days, DefaultScheduleDays)
	case s.JitterMin < 0 || s.JitterMax < 0:
		return nil, errors.New("selfupdate: Config.Schedule jitter must not be negative")
	}
	setDefault(&s.Days, DefaultScheduleDays)
	setDefault(&s.JitterMin, DefaultJitterMin)
	setDefault(&s.JitterMax, DefaultJitterMax)
	if s.JitterMax < s.JitterMin {
		return nil, fmt.Errorf("selfupdate: Config.Schedule.JitterMax %s is below JitterMin %s", s.JitterMax, s.JitterMin)
	}
	if err := checkWindow(&cfg); err != nil {
		return nil, err
	}
	setDefault(&cfg.HealthTimeout, DefaultHealthTimeout)
	setDefault(&cfg.HealthInterval, DefaultHealthInterval)
	setDefault(&cfg.DownloadTimeout, DefaultDownloadTimeout)
	setDefault(&cfg.MaxManifestBytes, manifest.DefaultMaxBytes)
	setDefault(&cfg.MaxPackageBytes, DefaultMaxPackageBytes)
	setDefault(&cfg.MaxUnpackedBytes, DefaultMaxUnpackedBytes)
	setDefault(&cfg.MaxEntries, DefaultMaxEntries)
	if err := cfg.FreeSpace.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Updater{cfg: cfg, layout: Layout{Dir: cfg.InstallDir}, rand: defaultRand}, nil
}

// ensureDirs makes the state directories an update writes to. New does
// not, so that Check writes nothing anywhere; the install directory is
// written only once a package has been downloaded and verified.
func (u *Updater) ensureDirs() error {
	if err := os.MkdirAll(filepath.Dir(u.cfg.StateDir), 0o755); err != nil {
		return fmt.Errorf("selfupdate: %w", err)
	}
	// Neither may be a link: downloads/ is swept of what an earlier
	// attempt left, which must never reach another directory.
	for _, d := range []string{u.cfg.StateDir, filepath.Join(u.cfg.StateDir, "downloads")} {
		if err := atomicfile.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("selfupdate: state directory: %w", err)
		}
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (u *Updater) journalPath() string { return filepath.Join(u.cfg.StateDir, "update.json") }
func (u *Updater) lockPath() string    { return filepath.Join(u.cfg.StateDir, "update.lock") }
func (u *Updater) trustPath() string   { return filepath.Join(u.cfg.StateDir, "trust.json") }

// A Plan is what an update would do now.
type Plan struct {
	ManifestURL string
	Decision    manifest.Decision
	// URL is the target package's download URL, when there is a target.
	URL string
	// Rollout is where the agent stands in the target's rollout
	// (Decision.Rollout): nil when the target has none, or there is no
	// target.
	Rollout *manifest.RolloutStatus
	// NextAllowed is when the update may next happen, given its rollout's
	// opening and Config.Window, when that is later than now. It is zero
	// when the update may happen now (Decision.Action is ActionUpdate and
	// the window is open), and when it may not happen at all as the
	// manifest stands: no update, a paused rollout (Rollout.Paused), or a
	// wave that never opens for this agent.
	NextAllowed time.Time
	// windowEnd is the end of the window's opening at NextAllowed (or
	// now); zero without a window.
	windowEnd time.Time
}

// Allowed says whether the plan's update may happen now, window and all.
func (p *Plan) Allowed() bool {
	return p.Decision.Action == manifest.ActionUpdate && p.NextAllowed.IsZero()
}

// Check fetches and verifies the manifest and decides for Config.Now(),
// rollout and window included, writing nothing anywhere: the manifest
// cache and the highest manifest version seen (PublicKeys) are read, not
// advanced; only Update advances them.
func (u *Updater) Check(ctx context.Context) (*Plan, error) { return u.check(ctx, false) }

// check is Check; with persist, an accepted manifest is cached and the
// trust state advanced.
func (u *Updater) check(ctx context.Context, persist bool) (*Plan, error) {
	if u.cfg.ManifestURL == "" {
		return nil, errors.New("selfupdate: Config.ManifestURL is empty")
	}
	m, err := u.fetchManifest(ctx, persist)
	if err != nil {
		return nil, err
	}
	return planFor(m, u.cfg.query(u.cfg.Now()), u.cfg.Window, u.cfg.ManifestURL, u.cfg.Region)
}

// fetchManifest downloads, verifies and parses the manifest. With persist,
// the one fetched is kept with its ETag, which later fetches send as
// If-None-Match: an unchanged manifest is not downloaded again (it is
// verified again all the same), and the highest signed manifest version
// seen is saved.
func (u *Updater) fetchManifest(ctx context.Context, persist bool) (*manifest.Manifest, error) {
	cachePath := filepath.Join(u.cfg.StateDir, "manifest.json")
	etagPath := cachePath + ".etag"
	var etag string
	cached, err := atomicfile.ReadFile(cachePath)
	if err == nil {
		if b, err := atomicfile.ReadFile(etagPath); err == nil {
			etag = string(b)
		}
	}
	data, newTag, err := readAll(ctx, u.cfg.Source, u.cfg.ManifestURL, Request{ETag: etag}, u.cfg.MaxManifestBytes, time.Minute)
	switch {
	case errors.Is(err, ErrNotModified):
		data = cached
	case err != nil:
		return nil, err
	case persist && newTag != "":
		if atomicfile.WriteFile(cachePath, data, 0o600) == nil {
			atomicfile.WriteFile(etagPath, []byte(newTag), 0o600)
		}
	}
	if len(u.cfg.PublicKeys) > 0 {
		sig, _, err := readAll(ctx, u.cfg.Source, u.cfg.ManifestURL+".sig", Request{}, 4096, time.Minute)
		if err != nil {
			return nil, fmt.Errorf("selfupdate: %w: signature %s.sig: %w", signing.ErrBadSignature, u.cfg.ManifestURL, err)
		}
		st, err := loadTrust(u.trustPath())
		if err != nil {
			return nil, err
		}
		version, err := verifyManifest(data, sig, u.cfg.PublicKeys, st.HighestManifestVersion, u.cfg.Now())
		if err != nil {
			return nil, err
		}
		if persist && version > st.HighestManifestVersion {
			st.HighestManifestVersion = version
			if err := saveTrust(u.trustPath(), st); err != nil {
				return nil, err
			}
		}
	}
	m, err := manifest.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("selfupdate: %s: %w", u.cfg.ManifestURL, err)
	}
	return m, nil
}

// testHook, set by this package's tests, is called at each step boundary.
var testHook func(step string)

func step(name string) {
	if testHook != nil {
		testHook(name)
	}
}
