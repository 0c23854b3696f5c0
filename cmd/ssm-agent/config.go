package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/ssmkit/ssmkit/selfupdate"
	"github.com/ssmkit/ssmkit/telemetry"
	cw "github.com/ssmkit/ssmkit/telemetry/cloudwatch"
)

// Config is the agent's configuration: SSM's amazon-ssm-agent.json, whose
// Agent section this agent reads (the other SSM sections are accepted and
// left alone), plus three sections of its own.
type Config struct {
	Agent      AgentConfig      `json:"Agent"`
	Workers    []WorkerConfig   `json:"Workers"`
	SelfUpdate SelfUpdateConfig `json:"SelfUpdate"`
	Telemetry  TelemetryConfig  `json:"Telemetry"`
	Identity   IdentityConfig   `json:"Identity"` // SSM's; see identity.go
}

// AgentConfig is SSM's Agent section (facts sheet §3), with SSM's defaults.
type AgentConfig struct {
	Region                                  string
	ServiceDomain                           string
	SelfUpdate                              bool
	SelfUpdateScheduleDay                   int
	TelemetryMetricsToSSM                   bool
	TelemetryMetricsToCloudWatch            bool
	TelemetryMetricsNamespace               string
	AuditExpirationDay                      int
	LongRunningWorkerMonitorIntervalSeconds int
}

// WorkerConfig is one entry of Workers.
type WorkerConfig struct {
	Name                  string
	Path                  string   // empty: this binary, with the worker subcommand
	Args                  []string // with Path empty: flags of the worker subcommand
	Env                   []string
	Protocol              string // workerproto (default), ssm-v3, none
	Restart               string // always (default), on-failure, never
	Backoff               BackoffConfig
	StartLimit            StartLimitConfig
	HealthIntervalSeconds int // 0: Agent.LongRunningWorkerMonitorIntervalSeconds
	// MaxMissedHealthChecks unanswered health checks in a row (pings,
	// surveys) and the worker counts as unresponsive and is replaced.
	MaxMissedHealthChecks int // 0: 3
	StopTimeoutSeconds    int // 0: 10
	// HealthSocket and TerminationSocket are where an ssm-v3 worker finds
	// the core: default <data dir>/ipc/health and termination (for root,
	// the SSM Agent's own paths).
	HealthSocket, TerminationSocket string
	Orphans                         string
}

// BackoffConfig: InitialMillis 0 restarts at once, every time; absent, 100.
type BackoffConfig struct {
	InitialMillis *int
	MaxSeconds    int // 0: 300
}

// StartLimitConfig is the crash-loop limit in systemd's terms: more than
// Burst failures within about IntervalSeconds and the worker is given up on.
type StartLimitConfig struct {
	Burst           int // 0: 5
	IntervalSeconds int // 0: 10
}

// SelfUpdateConfig is this agent's self-update settings.
type SelfUpdateConfig struct {
	ManifestURL string   // empty: the region's SSM manifest
	PackageName string   // empty: amazon-ssm-agent
	PublicKeys  []string // PEM text or file paths; set: signed manifests only
	// CACertificates are PEM text or file paths of CA certificates
	// trusted for HTTPS and S3 besides the system's, for internal mirrors.
	CACertificates       []string
	HealthTimeoutSeconds int // 0: 180
	AllowDowngrade       bool
	// FreeSpaceFactor is how many times the package's size the update
	// wants free for unpacking it, besides the download itself and
	// FreeSpaceMarginMiB; 0: 2.
	FreeSpaceFactor float64
	// FreeSpaceMarginMiB is the free space an update leaves; 0: 8.
	FreeSpaceMarginMiB int
	// Group is the agent's rollout group: a release whose rollout lists
	// it opens for the agent at the group's time (config_rollout.go).
	Group string `json:",omitempty"`
	// MaintenanceWindow, when set, is when scheduled updates may happen.
	MaintenanceWindow *MaintenanceWindowConfig `json:",omitempty"`
}

// TelemetryConfig is this agent's telemetry settings.
type TelemetryConfig struct {
	Endpoint                    string // the AWS channel's HTTPS endpoint; empty: pending
	CloudWatchLogsGroup         string // set: send events to CloudWatch Logs
	CloudWatchLogsRetentionDays int
	InstanceId                  string // empty: from the metadata service, when needed
	// AuditMaxDayMiB and AuditMaxTotalMiB bound the audit files: a day's
	// file stops growing at the first (its last line then counts the
	// events dropped), and the oldest days go past the second; 0: 10 and
	// 100.
	AuditMaxDayMiB, AuditMaxTotalMiB int
}

// An agentRange is the default and range of an Agent key.
type agentRange struct {
	key      string
	min, max int
	def      int
	field    func(*AgentConfig) *int
}

// Defaults and ranges of the Agent keys, as the SSM Agent has them.
var agentRanges = []agentRange{
	{"SelfUpdateScheduleDay", 1, 7, 7, func(a *AgentConfig) *int { return &a.SelfUpdateScheduleDay }},
	{"AuditExpirationDay", 3, 30, 7, func(a *AgentConfig) *int { return &a.AuditExpirationDay }},
	{"LongRunningWorkerMonitorIntervalSeconds", 30, 1800, 60, func(a *AgentConfig) *int { return &a.LongRunningWorkerMonitorIntervalSeconds }},
}

// knownAgentKeys are the keys of SSM's Agent section; those this agent does
// not use are accepted silently.
var knownAgentKeys = []string{
	"Region", "ServiceDomain", "OrchestrationRootDir", "SelfUpdate", "SelfUpdateScheduleDay",
	"TelemetryMetricsToSSM", "TelemetryMetricsToCloudWatch", "TelemetryMetricsNamespace",
	"AuditExpirationDay", "LongRunningWorkerMonitorIntervalSeconds", "ContainerMode",
	"ForceFileIPC", "Mode", "GoMaxProcForAgentWorker",
}

// defaultConfig returns the built-in configuration.
func defaultConfig() Config {
	return Config{Agent: AgentConfig{
		SelfUpdateScheduleDay:                   7,
		TelemetryMetricsToSSM:                   true,
		TelemetryMetricsNamespace:               "amazon-ssm-agent-telemetry",
		AuditExpirationDay:                      7,
		LongRunningWorkerMonitorIntervalSeconds: 60,
	}}
}

// loadConfig reads the configuration at path; "" means the default path if
// the file exists, else the built-in defaults. It returns the warnings about
// values it replaced or keys it does not know.
func loadConfig(path string) (Config, []string, error) {
	if path == "" {
		if _, err := os.Stat(rootConfigFile); err != nil {
			return parseConfig([]byte("{}"))
		}
		path = rootConfigFile
	}
	data, err := readConfigFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Config{}, nil, fmt.Errorf("config %s: no such file", path)
		}
		return Config{}, nil, fmt.Errorf("config: %w", err)
	}
	cfg, warnings, err := parseConfig(data)
	if err != nil {
		return Config{}, nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, warnings, nil
}

// parseConfig parses a configuration file's content over the defaults.
func parseConfig(data []byte) (Config, []string, error) {
	cfg := defaultConfig()
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(data, &sections); err != nil {
		return Config{}, nil, jsonError(data, err)
	}
	if err := checkConfigJSON(data); err != nil {
		return Config{}, nil, err
	}
	var warnings []string
	for name, raw := range sections {
		switch strings.ToLower(name) {
		case "agent":
			w, err := parseAgent(raw, &cfg.Agent)
			if err != nil {
				return Config{}, nil, err
			}
			warnings = append(warnings, w...)
		case "workers":
			if err := strictDecode(raw, &cfg.Workers); err != nil {
				return Config{}, nil, fmt.Errorf("Workers: %w", err)
			}
		case "selfupdate":
			if err := strictDecode(raw, &cfg.SelfUpdate); err != nil {
				return Config{}, nil, fmt.Errorf("SelfUpdate: %w", err)
			}
		case "telemetry":
			if err := strictDecode(raw, &cfg.Telemetry); err != nil {
				return Config{}, nil, fmt.Errorf("Telemetry: %w", err)
			}
		case "identity":
			// Read by checkIdentity below, for ssm-v3 workers.
		case "profile", "mds", "ssm", "mgs", "os", "s3", "kms", "credentialsource":
			// SSM's own sections: accepted, not used by this agent.
		default:
			warnings = append(warnings, fmt.Sprintf("unknown section %q is ignored%s", name,
				suggest(name, []string{"Agent", "Workers", "SelfUpdate", "Telemetry", "Identity", "Profile", "Mds", "Ssm", "Mgs", "Os", "S3", "Kms"})))
		}
	}
	// SSM's Identity section (identity.go).
	w, err := checkIdentity(sections, &cfg.Identity)
	if err != nil {
		return Config{}, nil, err
	}
	warnings = append(warnings, w...)
	w, err = checkWorkers(&cfg)
	if err != nil {
		return Config{}, nil, err
	}
	warnings = append(warnings, w...)
	if err := checkSections(&cfg); err != nil {
		return Config{}, nil, err
	}
	cfg.SelfUpdate.PackageName = cmp.Or(cfg.SelfUpdate.PackageName, selfupdate.DefaultPackage)
	cfg.SelfUpdate.HealthTimeoutSeconds = cmp.Or(cfg.SelfUpdate.HealthTimeoutSeconds, 180)
	cfg.Telemetry.AuditMaxDayMiB = cmp.Or(cfg.Telemetry.AuditMaxDayMiB, int(telemetry.DefaultAuditMaxDayBytes>>20))
	cfg.Telemetry.AuditMaxTotalMiB = cmp.Or(cfg.Telemetry.AuditMaxTotalMiB, int(telemetry.DefaultAuditMaxTotalBytes>>20))
	cfg.SelfUpdate.FreeSpaceFactor = cmp.Or(cfg.SelfUpdate.FreeSpaceFactor, selfupdate.DefaultUnpackFactor)
	cfg.SelfUpdate.FreeSpaceMarginMiB = cmp.Or(cfg.SelfUpdate.FreeSpaceMarginMiB, int(selfupdate.DefaultSpaceMargin>>20))
	sort.Strings(warnings)
	return cfg, warnings, nil
}

// parseAgent reads SSM's Agent section: known keys case-insensitively,
// unknown keys warned about, out-of-range numbers replaced by the default.
func parseAgent(raw json.RawMessage, a *AgentConfig) ([]string, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("Agent: %w", err)
	}
	var warnings []string
	for k := range keys {
		if !slices.ContainsFunc(knownAgentKeys, func(known string) bool { return strings.EqualFold(known, k) }) {
			warnings = append(warnings, fmt.Sprintf("Agent.%s is not a known key and is ignored%s", k, suggest(k, knownAgentKeys)))
		}
	}
	defaults := *a
	for {
		err := json.Unmarshal(raw, a)
		if err == nil {
			break
		}
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("Agent: %w", err)
		}
		// A number past what a range key can hold (1e20, a fraction) is
		// out of its range: the default, with a warning, as for any value
		// outside it. A value of the wrong kind is an error.
		i := slices.IndexFunc(agentRanges, func(r agentRange) bool { return strings.EqualFold(r.key, te.Field) })
		if i < 0 || te.Value != "number" && !strings.HasPrefix(te.Value, "number ") {
			return nil, fmt.Errorf("Agent.%s: want a %s, got %s", te.Field, te.Type, te.Value)
		}
		for k := range keys {
			if strings.EqualFold(k, te.Field) {
				warnings = append(warnings, fmt.Sprintf("Agent.%s is %s, outside %d–%d: using the default, %d", agentRanges[i].key, keys[k], agentRanges[i].min, agentRanges[i].max, agentRanges[i].def))
				delete(keys, k)
			}
		}
		raw, _ = json.Marshal(keys)
		*a = defaults
	}
	for _, r := range agentRanges {
		if v := r.field(a); *v < r.min || *v > r.max {
			warnings = append(warnings, fmt.Sprintf("Agent.%s is %d, outside %d–%d: using the default, %d", r.key, *v, r.min, r.max, r.def))
			*v = r.def
		}
	}
	if a.TelemetryMetricsNamespace == "" {
		a.TelemetryMetricsNamespace = "amazon-ssm-agent-telemetry"
	}
	if err := (&cw.Metrics{Namespace: a.TelemetryMetricsNamespace}).Validate(); err != nil {
		warnings = append(warnings, fmt.Sprintf("Agent.TelemetryMetricsNamespace %q is not one CloudWatch accepts: using the default, amazon-ssm-agent-telemetry", a.TelemetryMetricsNamespace))
		a.TelemetryMetricsNamespace = "amazon-ssm-agent-telemetry"
	}
	return warnings, nil
}

// checkWorkers validates the Workers section and fills in its defaults.
func checkWorkers(cfg *Config) ([]string, error) {
	if cfg.Workers == nil {
		cfg.Workers = []WorkerConfig{{Name: "ssm-agent-worker"}}
	}
	var warnings []string
	seen := map[string]bool{}
	for i := range cfg.Workers {
		w := &cfg.Workers[i]
		field := func(name string) string { return fmt.Sprintf("Workers[%d].%s", i, name) }
		switch {
		case w.Name == "":
			return nil, fmt.Errorf("%s is empty", field("Name"))
		case seen[strings.ToLower(w.Name)]:
			// Names name files: a and A would be one on a file system
			// that folds case.
			return nil, fmt.Errorf("%s: two workers named %q (names are compared ignoring case)", field("Name"), w.Name)
		}
		seen[strings.ToLower(w.Name)] = true
		if err := checkWorkerValues(i, w); err != nil {
			return nil, err
		}
		if w.Protocol == "" {
			w.Protocol = "workerproto"
		}
		if !slices.Contains([]string{"workerproto", "ssm-v3", "none"}, w.Protocol) {
			return nil, fmt.Errorf("%s is %q: want workerproto, ssm-v3 or none%s", field("Protocol"), w.Protocol, suggest(w.Protocol, []string{"workerproto", "ssm-v3", "none"}))
		}
		if w.Restart == "" {
			w.Restart = "always"
		}
		if !slices.Contains([]string{"always", "on-failure", "never"}, w.Restart) {
			return nil, fmt.Errorf("%s is %q: want always, on-failure or never", field("Restart"), w.Restart)
		}
		if w.Orphans == "" {
			w.Orphans = "adopt"
		}
		if w.Orphans != "adopt" && w.Orphans != "stop" {
			return nil, fmt.Errorf("%s is %q: want adopt or stop", field("Orphans"), w.Orphans)
		}
		// The effective values, for `ssm-agent config` to show.
		if w.Backoff.InitialMillis == nil {
			w.Backoff.InitialMillis = new(100)
		}
		w.Backoff.MaxSeconds = cmp.Or(w.Backoff.MaxSeconds, 300)
		w.StartLimit.Burst = cmp.Or(w.StartLimit.Burst, 5)
		w.StartLimit.IntervalSeconds = cmp.Or(w.StartLimit.IntervalSeconds, 10)
		w.HealthIntervalSeconds = cmp.Or(w.HealthIntervalSeconds, cfg.Agent.LongRunningWorkerMonitorIntervalSeconds)
		w.StopTimeoutSeconds = cmp.Or(w.StopTimeoutSeconds, 10)
		w.MaxMissedHealthChecks = cmp.Or(w.MaxMissedHealthChecks, 3)
		if w.Protocol != "ssm-v3" && (w.HealthSocket != "" || w.TerminationSocket != "") {
			warnings = append(warnings, fmt.Sprintf("Workers[%d] (%s): HealthSocket and TerminationSocket are for ssm-v3 workers only; ignored", i, w.Name))
		}
	}
	return warnings, nil
}

// strictDecode decodes one of this agent's own sections, refusing unknown
// keys so that a typo is an error, not a silent default.
func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return fmt.Errorf("unknown key %q%s", name, suggest(name, fieldNames(v)))
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s: want %s, got %s", te.Field, typeName(te.Type.String()), te.Value)
		}
		return err
	}
	return nil
}

// fieldNames lists the keys the sections of this agent know.
func fieldNames(v any) []string {
	switch v.(type) {
	case *SelfUpdateConfig:
		return []string{"ManifestURL", "PackageName", "PublicKeys", "CACertificates", "HealthTimeoutSeconds", "AllowDowngrade", "FreeSpaceFactor", "FreeSpaceMarginMiB",
			"Group", "MaintenanceWindow", "Days", "Start", "DurationMinutes", "TimeZone"}
	case *TelemetryConfig:
		return []string{"Endpoint", "CloudWatchLogsGroup", "CloudWatchLogsRetentionDays", "InstanceId", "AuditMaxDayMiB", "AuditMaxTotalMiB"}
	}
	return []string{"Name", "Path", "Args", "Env", "Protocol", "Restart", "Backoff", "StartLimit",
		"HealthIntervalSeconds", "MaxMissedHealthChecks", "StopTimeoutSeconds", "HealthSocket", "TerminationSocket",
		"Orphans", "InitialMillis", "MaxSeconds", "Burst", "IntervalSeconds"}
}

// jsonError turns a syntax error into one with a line and column.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	default:
		return err
	}
	before := data[:min(max(off, 1)-1, int64(len(data)))]
	line := 1 + bytes.Count(before, []byte{'\n'})
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// suggest returns ` (did you mean X?)` for the known word nearest to w, if
// it is near enough.
func suggest(w string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := distance(strings.ToLower(w), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || bestD > max(2, len(w)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// configSource says where loadConfig(path) takes the configuration from.
func configSource(path string) string {
	if path != "" {
		return path
	}
	if _, err := os.Stat(rootConfigFile); err == nil {
		return rootConfigFile
	}
	return "built-in defaults (no " + rootConfigFile + ")"
}

// maxConfigBytes bounds the configuration file: SSM's template is 3 KiB.
const maxConfigBytes = 1 << 20

// readConfigFile reads the configuration, at most maxConfigBytes of it.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err == nil && len(data) > maxConfigBytes {
		err = fmt.Errorf("%s is over %d bytes", path, maxConfigBytes)
	}
	return data, err
}

// typeName says a Go type as a configuration's reader would.
func typeName(t string) string {
	switch t {
	case "int", "int64", "int32", "uint64":
		return "a whole number"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	}
	return "a " + t
}
