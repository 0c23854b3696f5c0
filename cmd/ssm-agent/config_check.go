package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/ssmkit/ssmkit/internal/urlguard"
	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/supervisor"
	cw "github.com/ssmkit/ssmkit/telemetry/cloudwatch"
)

// A numRange is the range of a count or duration of this agent's own
// sections. Zero means the default unless zeroOK; outside the range is an
// error naming the key, so that no value reaches time.Duration arithmetic
// where it could overflow.
type numRange struct {
	key      string
	min, max int
	field    func(*WorkerConfig) *int
}

var workerRanges = []numRange{
	{"HealthIntervalSeconds", 1, 86400, func(w *WorkerConfig) *int { return &w.HealthIntervalSeconds }},
	{"MaxMissedHealthChecks", 1, 1000, func(w *WorkerConfig) *int { return &w.MaxMissedHealthChecks }},
	{"StopTimeoutSeconds", 1, 3600, func(w *WorkerConfig) *int { return &w.StopTimeoutSeconds }},
	{"Backoff.MaxSeconds", 1, 86400, func(w *WorkerConfig) *int { return &w.Backoff.MaxSeconds }},
	{"StartLimit.Burst", 1, 10000, func(w *WorkerConfig) *int { return &w.StartLimit.Burst }},
	{"StartLimit.IntervalSeconds", 1, 86400, func(w *WorkerConfig) *int { return &w.StartLimit.IntervalSeconds }},
}

// Ranges of single values.
const (
	maxBackoffInitialMillis = 3600 * 1000
	minHealthTimeoutSeconds = 1
	maxHealthTimeoutSeconds = 86400
	maxWorkers              = 64
)

// workerNamePattern is what a worker's name may be: it names its log file and its
// state file, so nothing that is a path. Its length, at most 64, is checked
// apart: a counted repetition compiles to a program 64 times the size.
var workerNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// cloudWatchRetention are the retention periods CloudWatch Logs accepts.
var cloudWatchRetention = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// checkRange checks v (zero meaning the default) against [lo, hi].
func checkRange(key string, v, lo, hi int) error {
	if v != 0 && (v < lo || v > hi) {
		return fmt.Errorf("%s is %d: want %d to %d (0 or absent: the default)", key, v, lo, hi)
	}
	return nil
}

// checkWorkerValues checks a Workers entry's name and numbers.
func checkWorkerValues(i int, w *WorkerConfig) error {
	field := func(name string) string { return fmt.Sprintf("Workers[%d].%s", i, name) }
	if len(w.Name) > 64 || !workerNamePattern.MatchString(w.Name) {
		return fmt.Errorf("%s is %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", field("Name"), w.Name)
	}
	for _, r := range workerRanges {
		if err := checkRange(field(r.key), *r.field(w), r.min, r.max); err != nil {
			return err
		}
	}
	if w.Backoff.InitialMillis != nil && (*w.Backoff.InitialMillis < 0 || *w.Backoff.InitialMillis > maxBackoffInitialMillis) {
		return fmt.Errorf("%s is %d: want 0 (restart at once) to %d", field("Backoff.InitialMillis"), *w.Backoff.InitialMillis, maxBackoffInitialMillis)
	}
	for _, s := range []struct{ key, path string }{{"HealthSocket", w.HealthSocket}, {"TerminationSocket", w.TerminationSocket}} {
		if s.path != "" && !filepath.IsAbs(s.path) {
			return fmt.Errorf("%s is %q: want an absolute path", field(s.key), s.path)
		}
	}
	return nil
}

// checkSections checks the values of the SelfUpdate and Telemetry sections.
func checkSections(cfg *Config) error {
	su, t := cfg.SelfUpdate, cfg.Telemetry
	if err := checkRange("SelfUpdate.HealthTimeoutSeconds", su.HealthTimeoutSeconds, minHealthTimeoutSeconds, maxHealthTimeoutSeconds); err != nil {
		return err
	}
	if su.ManifestURL != "" {
		if err := checkURL("SelfUpdate.ManifestURL", su.ManifestURL, "https", "http", "file", "s3"); err != nil {
			return err
		}
	}
	if _, err := publicKeys(su.PublicKeys); err != nil {
		return err
	}
	if _, err := caPool(su.CACertificates); err != nil {
		return err
	}
	if f := su.FreeSpaceFactor; f != 0 && !(f >= 0.1 && f <= 100) {
		return fmt.Errorf("SelfUpdate.FreeSpaceFactor is %v: want 0.1 to 100 (0 or absent: %v)", f, selfupdate.DefaultUnpackFactor)
	}
	if err := checkRange("SelfUpdate.FreeSpaceMarginMiB", su.FreeSpaceMarginMiB, 1, 1<<20); err != nil {
		return err
	}
	if err := checkRollout(su); err != nil {
		return err
	}
	if t.Endpoint != "" {
		if err := checkURL("Telemetry.Endpoint", t.Endpoint, "https", "http"); err != nil {
			return err
		}
		if u, _ := url.Parse(t.Endpoint); urlguard.Check(u) != nil {
			return fmt.Errorf("Telemetry.Endpoint is %q: want https (plain http only to a loopback host)", t.Endpoint)
		}
	}
	if t.CloudWatchLogsGroup != "" {
		if err := (&cw.Logs{Group: t.CloudWatchLogsGroup}).Validate(); err != nil {
			return fmt.Errorf("Telemetry.CloudWatchLogsGroup: %w", err)
		}
	}
	if err := (&cw.Metrics{InstanceID: t.InstanceId}).Validate(); err != nil {
		return fmt.Errorf("Telemetry.InstanceId: %w", err)
	}
	if err := checkRange("Telemetry.AuditMaxDayMiB", t.AuditMaxDayMiB, 1, 1<<20); err != nil {
		return err
	}
	if err := checkRange("Telemetry.AuditMaxTotalMiB", t.AuditMaxTotalMiB, 1, 1<<30); err != nil {
		return err
	}
	if t.AuditMaxDayMiB > 0 && t.AuditMaxTotalMiB > 0 && t.AuditMaxDayMiB > t.AuditMaxTotalMiB {
		return fmt.Errorf("Telemetry.AuditMaxDayMiB (%d) is more than Telemetry.AuditMaxTotalMiB (%d)", t.AuditMaxDayMiB, t.AuditMaxTotalMiB)
	}
	if r := t.CloudWatchLogsRetentionDays; r != 0 && !slices.Contains(cloudWatchRetention, r) {
		return fmt.Errorf("Telemetry.CloudWatchLogsRetentionDays is %d: want one of %v (0: never expire)", r, cloudWatchRetention)
	}
	if len(cfg.Workers) > maxWorkers {
		return fmt.Errorf("Workers has %d entries: at most %d", len(cfg.Workers), maxWorkers)
	}
	return nil
}

// checkURL checks that a URL parses and has one of the schemes.
func checkURL(key, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("%s is %q: want a URL with scheme %v", key, raw, schemes)
	}
	if u.Scheme != "file" && u.Host == "" {
		return fmt.Errorf("%s is %q: no host", key, raw)
	}
	return nil
}

// maxSocketPath is the longest Unix socket path every platform accepts.
const maxSocketPath = 103

// checkRuntime checks what the core would refuse when it starts with cfg
// and the directories of g, beyond the file's own rules: socket paths the
// kernel cannot bind, and worker specs the supervisor refuses. `ssm-agent
// config` runs it too, so that its exit status 0 means the core starts.
func checkRuntime(cfg Config, g *globals) error {
	c := &core{g: g, cfg: cfg, self: "ssm-agent"}
	socks := []struct{ key, path string }{{"the control socket", controlSocket(g.dataDir)}, {"the workers' socket", workerSocket(g.dataDir)}}
	for i, w := range cfg.Workers {
		if w.Protocol == "ssm-v3" {
			health, term := c.v3Sockets(w)
			socks = append(socks, struct{ key, path string }{fmt.Sprintf("Workers[%d] (%s) health socket", i, w.Name), health},
				struct{ key, path string }{fmt.Sprintf("Workers[%d] (%s) termination socket", i, w.Name), term})
		}
	}
	for _, s := range socks {
		if len(s.path) > maxSocketPath {
			return fmt.Errorf("%s %s is %d bytes long; Unix sockets allow at most %d: choose a shorter --data-dir or socket path", s.key, s.path, len(s.path), maxSocketPath)
		}
	}
	for i, w := range cfg.Workers {
		spec := c.baseSpec(w)
		if w.Protocol == "ssm-v3" {
			spec.Protocol, spec.Probe = supervisor.ProtocolProbe, noProber{}
		}
		if err := spec.Validate(); err != nil {
			return fmt.Errorf("Workers[%d] (%s): %w", i, w.Name, err)
		}
	}
	return nil
}
