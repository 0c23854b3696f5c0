//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentConfigAgreesWithCore runs `ssm-agent config` and the core over
// every configuration of the refusal table and a few good ones: config
// exits 0 exactly when the core starts.
func TestAgentConfigAgreesWithCore(t *testing.T) {
	bin := agentBinary(t, "3.1.0.0")
	configs := map[string]string{
		"empty":      `{}`,
		"template":   "",
		"two-kinds":  `{"Workers": [{"Name": "a"}, {"Name": "b", "Protocol": "none", "Path": "/bin/sleep", "Args": ["60"]}]}`,
		"ranges-top": `{"Workers": [{"Name": "w", "HealthIntervalSeconds": 86400, "StopTimeoutSeconds": 3600, "Backoff": {"InitialMillis": 3600000}}]}`,
	}
	good := map[string]bool{"empty": true, "template": true, "two-kinds": true, "ranges-top": true}
	if b, err := os.ReadFile("testdata/amazon-ssm-agent.json.template"); err == nil {
		configs["template"] = string(b)
	}
	for _, bad := range badConfigs {
		configs[bad.name] = bad.in
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := newAgent(t, bin, cfg)
			cfgErr := exec.Command(bin, append([]string{"config"}, a.globals()...)...).Run()
			core := a.command()
			core.Stdout, core.Stderr = nil, nil
			if err := core.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- core.Wait() }()
			started := false
			deadline := time.After(20 * time.Second)
		wait:
			for {
				select {
				case err := <-exited:
					if err == nil {
						t.Fatalf("the core exited 0 at once")
					}
					break wait
				case <-deadline:
					t.Fatal("the core neither started nor exited")
				case <-time.After(20 * time.Millisecond): // polling the socket, with the exit as the other way out
					if controlAnswers(filepath.Join(a.dir, "data")) {
						started = true
						core.Process.Signal(os.Interrupt)
						<-exited
						break wait
					}
				}
			}
			if (cfgErr == nil) != started || started != good[name] {
				t.Errorf("config exit %v, core started %v, want started %v: %.100q", cfgErr, started, good[name], strings.TrimSpace(cfg))
			}
		})
	}
}

// TestAgentRelativeDirs: directories given relative to the working
// directory work; the core, its worker and its guardians get them
// absolute.
func TestAgentRelativeDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(agentBinary(t, "3.1.0.0"), "--data-dir", "d", "--log-dir", "l", "--install-dir", "i")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !controlAnswers(filepath.Join(dir, "d")) {
		if time.Now().After(deadline) {
			t.Fatal("the core with relative directories does not answer")
		}
		time.Sleep(10 * time.Millisecond) // polling the socket, bounded by the deadline
	}
}
