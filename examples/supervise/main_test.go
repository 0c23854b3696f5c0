package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestSupervise(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, &out, []string{"-restart", "on-failure", "--", "sh", "-c", "exit 0"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"command started pid=", "command exited", "exit=exit status 0", "command stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSuperviseStopsOnCancel(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep")
	}
	out := newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, out, []string{"--", "sleep", "600"}) }()
	out.waitFor(t, "command started")
	cancel() // like Ctrl-C
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
	if !strings.Contains(out.String(), "command stopped") {
		t.Errorf("output:\n%s", out.String())
	}
}
