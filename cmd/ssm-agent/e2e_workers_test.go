//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAgentHealthWithMixedProtocols asks the status of a core with a
// workerproto and a plain worker, both running, 60 times: it is healthy
// every time, whatever order the workers come in.
func TestAgentHealthWithMixedProtocols(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), `{"Workers": [
		{"Name": "proto", "HealthIntervalSeconds": 1},
		{"Name": "plain", "Protocol": "none", "Path": "/bin/sleep", "Args": ["3600"]}]}`)
	a.start()
	for i := range 60 {
		st, err := a.status()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Healthy || len(st.Workers) != 2 || st.Workers[0].Name != "proto" || st.Workers[1].Protocol != "none" {
			t.Fatalf("status %d: healthy %v %q, workers %+v", i, st.Healthy, st.HealthReasons, st.Workers)
		}
	}
}

// TestAgentStartLimitCountsQuickExits: a worker that exits 0 at once,
// forever, under Restart always, is given up on after StartLimit.Burst
// starts, and the status says why.
func TestAgentStartLimitCountsQuickExits(t *testing.T) {
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), `{"Workers": [
		{"Name": "quick", "Protocol": "none", "Path": "/bin/true", "Backoff": {"InitialMillis": 0},
		 "StartLimit": {"Burst": 5, "IntervalSeconds": 10}}]}`)
	cmd := a.command()
	a.cmd, a.out = cmd, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = a.out, a.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.done = make(chan error, 1)
	go func() { a.done <- cmd.Wait() }()
	var w WorkerStatus
	a.waitFor("the quick worker given up on", 20*time.Second, func() (bool, string) {
		st, err := a.status()
		if err != nil || len(st.Workers) != 1 {
			return false, fmt.Sprint(err)
		}
		w = st.Workers[0]
		return w.State == "failed", fmt.Sprintf("%+v", w)
	})
	if !strings.Contains(w.Reason, "start limit") || w.Restarts > 5 {
		t.Errorf("given up on with reason %q after %d restarts; want the start limit named, at most 5 starts", w.Reason, w.Restarts)
	}
	if out, _, _ := a.run("status"); !strings.Contains(out, "start limit") {
		t.Errorf("status does not say why:\n%s", out)
	}
}
