package main

import (
	"slices"
	"testing"

	"github.com/ssmkit/ssmkit/supervisor"
)

// TestHealthyIgnoresStatusOrder: the answer depends on the workers' states,
// never on the order the supervisor lists them in.
func TestHealthyIgnoresStatusOrder(t *testing.T) {
	c := &core{cfg: Config{Workers: []WorkerConfig{{Name: "proto", Protocol: "workerproto"}, {Name: "plain", Protocol: "none"}}}}
	running := string(supervisor.StateRunning)
	proto := WorkerStatus{Name: "proto", State: running, Ready: true}
	plain := WorkerStatus{Name: "plain", State: running} // no protocol: never "ready"
	for _, order := range [][]WorkerStatus{{proto, plain}, {plain, proto}} {
		if !c.healthy(order) {
			t.Errorf("healthy(%v) = false", order)
		}
		notReady := slices.Clone(order)
		for i := range notReady {
			if notReady[i].Name == "proto" {
				notReady[i].Ready = false
			}
		}
		if c.healthy(notReady) {
			t.Errorf("healthy(%v) = true with the workerproto worker not ready", notReady)
		}
	}
	if c.healthy([]WorkerStatus{proto}) {
		t.Error("healthy with a configured worker missing")
	}
}
