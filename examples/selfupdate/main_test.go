package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(agentEnv); dir != "" {
		agent(dir)
		return
	}
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"result UpdateSucceeded_SelfUpdate-2.0.0; current is 2.0.0",
		"result UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-3.0.0; current is 2.0.0",
		"restarted into 3.0.0", "restarted into 2.0.0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
