package main

import (
	"os"
	"strings"
	"testing"
)

func TestConfigTemplateLoads(t *testing.T) {
	cfg, warnings, err := loadConfig("testdata/amazon-ssm-agent.json.template")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings for SSM's own template: %q", warnings)
	}
	a := cfg.Agent
	if a.SelfUpdate || !a.TelemetryMetricsToSSM || a.TelemetryMetricsToCloudWatch || a.AuditExpirationDay != 7 ||
		a.LongRunningWorkerMonitorIntervalSeconds != 60 || a.SelfUpdateScheduleDay != 7 || a.TelemetryMetricsNamespace != "amazon-ssm-agent-telemetry" {
		t.Errorf("Agent = %+v", a)
	}
	if len(cfg.Workers) != 1 || cfg.Workers[0].Name != "ssm-agent-worker" || cfg.Workers[0].Protocol != "workerproto" {
		t.Errorf("default workers %+v", cfg.Workers)
	}
}

func TestConfigWarnings(t *testing.T) {
	cfg, warnings, err := parseConfig([]byte(`{"Agent": {"SelfUpdat": true, "AuditExpirationDay": 45,
		"LongRunningWorkerMonitorIntervalSeconds": 5, "SelfUpdateScheduleDay": 0, "region": "eu-west-1"}, "Agnet": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Agent.AuditExpirationDay is 45, outside 3–30: using the default, 7",
		"Agent.LongRunningWorkerMonitorIntervalSeconds is 5, outside 30–1800: using the default, 60",
		"Agent.SelfUpdat is not a known key and is ignored (did you mean SelfUpdate?)",
		"Agent.SelfUpdateScheduleDay is 0, outside 1–7: using the default, 7",
		`unknown section "Agnet" is ignored (did you mean Agent?)`,
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	if cfg.Agent.Region != "eu-west-1" || cfg.Agent.SelfUpdate || cfg.Agent.AuditExpirationDay != 7 {
		t.Errorf("Agent = %+v", cfg.Agent)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\n  \"Agent\": {\n    \"SelfUpdate\": tru\n  }\n}", "line 3, column 22"},
		{`{"Agent": {"SelfUpdate": "yes"}}`, "Agent.SelfUpdate: want a bool, got string"},
		{`{"Workers": [{"Name": "w", "Protocl": "none"}]}`, `Workers: unknown key "Protocl" (did you mean Protocol?)`},
		{`{"Workers": [{"Name": ""}]}`, "Workers[0].Name is empty"},
		{`{"Workers": [{"Name": "a"}, {"Name": "a"}]}`, `two workers named "a"`},
		{`{"Workers": [{"Name": "a", "Protocol": "grpc"}]}`, `Workers[0].Protocol is "grpc"`},
		{`{"Workers": [{"Name": "a", "Restart": "sometimes"}]}`, `Workers[0].Restart is "sometimes"`},
		{`{"SelfUpdate": {"ManifestUR": "x"}}`, `SelfUpdate: unknown key "ManifestUR" (did you mean ManifestURL?)`},
		{`{"Telemetry": {"Endpont": "x"}}`, `Telemetry: unknown key "Endpont" (did you mean Endpoint?)`},
		{`[]`, "cannot unmarshal array"},
	}
	for _, tt := range tests {
		_, _, err := parseConfig([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseConfig(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	if _, _, err := loadConfig("/nonexistent/amazon-ssm-agent.json"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigDefaultPath(t *testing.T) {
	if _, err := os.Stat(rootConfigFile); err == nil {
		t.Skip("this machine has a real configuration")
	}
	cfg, warnings, err := loadConfig("")
	if err != nil || len(warnings) != 0 || cfg.Agent.AuditExpirationDay != 7 {
		t.Errorf("built-in defaults: %+v, %v, %v", cfg.Agent, warnings, err)
	}
}
