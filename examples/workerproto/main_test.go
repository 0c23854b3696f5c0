package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "worker" {
		if err := worker(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCore(t *testing.T) {
	var out bytes.Buffer
	if err := core(&out, 2); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"event from pid ", "agent_telemetry example-worker.start", "is ready", "pong: ok", "worker exited cleanly"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "pong: ok") != 2 {
		t.Errorf("want 2 pongs:\n%s", s)
	}
}
