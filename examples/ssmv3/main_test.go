package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(healthEnv) != "" {
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
	if n := strings.Count(s, "survey answered"); n != 2 {
		t.Errorf("%d surveys answered, want 2:\n%s", n, s)
	}
	for _, want := range []string{"ssm-agent-worker, LongRunning, pid ", "worker: terminate request received", "worker exited cleanly"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
