package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// badConfigs are configurations the core must refuse, each with what the
// error must name.
var badConfigs = []struct{ name, in, want string }{
	{"sections-differing-in-case", `{"SelfUpdate": {"PublicKeys": ["k"]}, "selfupdate": {}}`, `keys "SelfUpdate" and "selfupdate" of the configuration differ only in case`},
	{"workers-differing-in-case", `{"Workers": [], "workers": []}`, `keys "Workers" and "workers"`},
	{"worker-keys-differing-in-case", `{"Workers": [{"Name": "a", "name": "b"}]}`, `keys "Name" and "name" of "Workers[0]" differ only in case`},
	{"agent-keys-differing-in-case", `{"Agent": {"Region": "us-east-1", "region": "eu-west-1"}}`, `keys "Region" and "region" of "Agent"`},
	{"ssm-section-keys-differing-in-case", `{"Profile": {"ShareCreds": true, "sharecreds": false}}`, `of "Profile" differ only in case`},
	{"unicode-fold", `{"SelfUpdate": {"PublicKeys": ["k"], "PublicKeyſ": []}}`, `keys "PublicKeys" and "PublicKeyſ" of "SelfUpdate" differ only in case`},
	{"kelvin-fold", `{"Workers": [{"Name": "w", "MaxMissedHealthChecks": 3, "MaxMissedHealthChecKs": 5}]}`, "differ only in case"},
	{"agent-kind", `{"Agent": {"TelemetryMetricsToSSM": "yes"}}`, "Agent.TelemetryMetricsToSSM: want a bool, got string"},
	{"float-in-ours", `{"Workers": [{"Name": "w", "StopTimeoutSeconds": 1.5}]}`, "StopTimeoutSeconds: want a whole number, got number 1.5"},
	{"worker-names-folding", `{"Workers": [{"Name": "w"}, {"Name": "W"}]}`, "names are compared ignoring case"},
	{"key-twice", `{"Agent": {"SelfUpdate": true, "SelfUpdate": false}}`, `key "Agent.SelfUpdate" appears twice`},
	{"section-twice", `{"Agent": {}, "Agent": {}}`, `key "Agent" appears twice`},
	{"invalid-utf8", "{\"Agent\": {\"Region\": \"us-\xff\"}}", "line 1, column 26: invalid UTF-8"},
	{"nul", `{"SelfUpdate": {"ManifestURL": "https://a/\u0000b"}}`, `"SelfUpdate.ManifestURL" holds a NUL character`},
	{"deep", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), "nested more than 32 levels deep"},
	{"trailing-data", `{"Agent": {}} {}`, "line 1, column 15: invalid character"},
	{"stop-timeout-overflow", `{"Workers": [{"Name": "w", "StopTimeoutSeconds": 18446744074}]}`, "Workers[0].StopTimeoutSeconds is 18446744074: want 1 to 3600"},
	{"backoff-overflow", `{"Workers": [{"Name": "w", "Backoff": {"InitialMillis": 9223372036854775807}}]}`, "Workers[0].Backoff.InitialMillis is 9223372036854775807: want 0 (restart at once) to 3600000"},
	{"health-interval-overflow", `{"Workers": [{"Name": "w", "HealthIntervalSeconds": 10000000000}]}`, "Workers[0].HealthIntervalSeconds is 10000000000: want 1 to 86400"},
	{"beyond-int64", `{"Workers": [{"Name": "w", "StopTimeoutSeconds": 1e30}]}`, "StopTimeoutSeconds"},
	{"fraction", `{"Workers": [{"Name": "w", "StopTimeoutSeconds": 1.5}]}`, "StopTimeoutSeconds"},
	{"negative", `{"Workers": [{"Name": "w", "MaxMissedHealthChecks": -1}]}`, "Workers[0].MaxMissedHealthChecks is -1"},
	{"start-limit", `{"Workers": [{"Name": "w", "StartLimit": {"IntervalSeconds": 99999999}}]}`, "Workers[0].StartLimit.IntervalSeconds"},
	{"backoff-max", `{"Workers": [{"Name": "w", "Backoff": {"MaxSeconds": 99999999}}]}`, "Workers[0].Backoff.MaxSeconds"},
	{"health-timeout", `{"SelfUpdate": {"HealthTimeoutSeconds": 99999999}}`, "SelfUpdate.HealthTimeoutSeconds is 99999999"},
	{"health-timeout-negative", `{"SelfUpdate": {"HealthTimeoutSeconds": -5}}`, "SelfUpdate.HealthTimeoutSeconds is -5"},
	{"worker-name-path", `{"Workers": [{"Name": "../../etc/cron.d/x"}]}`, `Workers[0].Name is "../../etc/cron.d/x"`},
	{"worker-name-slash", `{"Workers": [{"Name": "a/b"}]}`, `Workers[0].Name is "a/b"`},
	{"worker-name-dot", `{"Workers": [{"Name": ".."}]}`, `Workers[0].Name is ".."`},
	{"worker-name-long", `{"Workers": [{"Name": "` + strings.Repeat("w", 65) + `"}]}`, "Workers[0].Name"},
	{"relative-socket", `{"Workers": [{"Name": "w", "Protocol": "ssm-v3", "HealthSocket": "health"}]}`, `Workers[0].HealthSocket is "health": want an absolute path`},
	{"manifest-scheme", `{"SelfUpdate": {"ManifestURL": "ftp://example.com/m.json"}}`, `SelfUpdate.ManifestURL is "ftp://example.com/m.json"`},
	{"manifest-no-host", `{"SelfUpdate": {"ManifestURL": "https:///m.json"}}`, "SelfUpdate.ManifestURL"},
	{"public-key", `{"SelfUpdate": {"PublicKeys": ["-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"]}}`, "SelfUpdate.PublicKeys[0]"},
	{"endpoint-scheme", `{"Telemetry": {"Endpoint": "ws://example.com"}}`, "Telemetry.Endpoint"},
	{"retention", `{"Telemetry": {"CloudWatchLogsRetentionDays": 2}}`, "Telemetry.CloudWatchLogsRetentionDays is 2"},
	{"log-group", `{"Telemetry": {"CloudWatchLogsGroup": "no spaces allowed"}}`, "Telemetry.CloudWatchLogsGroup"},
	{"endpoint-plain-http", `{"Telemetry": {"Endpoint": "http://telemetry.example.com/"}}`, "plain http only to a loopback host"},
}

func TestConfigRefusals(t *testing.T) {
	for _, tt := range badConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseConfig([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseConfig(%.80q) = %v\nwant an error with %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestConfigCaseDuplicatesAreNeverRandom(t *testing.T) {
	// With two sections differing in case, no run may pick one: every
	// parse is the same error.
	in := `{"SelfUpdate": {"PublicKeys": ["/k.pub"]}, "selfupdate": {}}`
	for range 40 {
		if _, _, err := parseConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), "differ only in case") {
			t.Fatalf("parseConfig = %v", err)
		}
	}
}

func TestConfigRuntimeChecks(t *testing.T) {
	long := "/tmp/" + strings.Repeat("d", 90)
	tests := []struct {
		name, in, dataDir, want string
	}{
		{"long-data-dir", `{}`, long, "the control socket " + filepath.Join(long, "ipc", "control.sock")},
		{"long-v3-socket", `{"Workers": [{"Name": "w", "Protocol": "ssm-v3", "TerminationSocket": "/` + strings.Repeat("s", 110) + `"}]}`, "/tmp/d", "Workers[0] (w) termination socket"},
		{"fine", `{"Workers": [{"Name": "w", "Protocol": "ssm-v3"}, {"Name": "p", "Protocol": "none", "Path": "/bin/true"}]}`, "/tmp/d", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseConfig([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			err = checkRuntime(cfg, &globals{dataDir: tt.dataDir, logDir: "/tmp/l", installDir: "/tmp/i"})
			if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("checkRuntime = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestConfigAgentNumbersPastTheirRange: SSM's Agent numbers that no int
// holds are out of range like any other: the default, with a warning.
func TestConfigAgentNumbersPastTheirRange(t *testing.T) {
	cfg, warnings, err := parseConfig([]byte(`{"Agent": {"AuditExpirationDay": 99999999999999999999, "LongRunningWorkerMonitorIntervalSeconds": 1e20, "Region": "eu-west-1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.AuditExpirationDay != 7 || cfg.Agent.LongRunningWorkerMonitorIntervalSeconds != 60 || cfg.Agent.Region != "eu-west-1" || !cfg.Agent.TelemetryMetricsToSSM {
		t.Errorf("Agent = %+v", cfg.Agent)
	}
	if len(warnings) != 2 {
		t.Errorf("warnings %q", warnings)
	}
}
