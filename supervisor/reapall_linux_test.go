package supervisor

import (
	"os"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/internal/procid"
)

// countZombieChildren counts this process's children that are zombies.
func countZombieChildren() int {
	n := 0
	for _, pid := range childPIDs() {
		if st, err := procid.ReadStat(pid); err == nil && st.PPID == os.Getpid() && st.State == 'Z' {
			n++
		}
	}
	return n
}

// TestReapAllCollectsUnseenOrphans runs a worker whose descendants setsid
// and exit before any scan could see them alive: with ReapAll their
// zombies do not pile up.
func TestReapAllCollectsUnseenOrphans(t *testing.T) {
	spec := Spec{Name: "daemonizer", Path: "/bin/sh", Protocol: ProtocolPlain,
		Args: []string{"-c", `i=0; while [ $i -lt 40 ]; do setsid sh -c "sleep 0.01 &"; i=$((i+1)); sleep 0.02; done; exec sleep 100`}}
	sv := serve(t, Config{ReapAll: true}, spec)
	from := 0
	sv.rec.waitFor(t, &from, EventStarted, nil)
	// The loop takes about a second; its orphans die 10 ms after they
	// are made. Each SIGCHLD makes a scan.
	deadline := time.Now().Add(testTimeout)
	for {
		time.Sleep(200 * time.Millisecond) // sampling a count that must fall to zero, bounded by the deadline
		if n := countZombieChildren(); n == 0 && time.Since(deadline.Add(-testTimeout)) > 2*time.Second {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d zombie children left", n)
		}
	}
	sv.stop(t)
}
