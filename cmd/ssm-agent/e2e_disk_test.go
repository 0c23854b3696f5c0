//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fill writes a file at path until the file system has at most leave bytes
// free, or none.
func fill(t *testing.T, path string, leave int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
			t.Fatal(err)
		}
		free := int64(st.Bavail) * st.Bsize
		if free <= leave {
			return
		}
		n := min(int64(len(chunk)), free-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// TestAgentFullDisk runs the core with its data directory on a 16 MiB
// volume with 1 MiB free, then full: it starts, keeps supervising (a
// killed worker comes back), says the spool is degraded and why, and once
// space returns records again by itself.
func TestAgentFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	t.Parallel()
	a := newAgent(t, agentBinary(t, "3.1.0.0"), `{"Workers": [{"Name": "ssm-agent-worker", "StartLimit": {"Burst": 50}}]}`)
	data := a.path("data")
	os.MkdirAll(data, 0o700)
	if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { a.killAll(); syscall.Unmount(data, syscall.MNT_DETACH) })
	filler := filepath.Join(data, "filler")
	fill(t, filler, 1<<20)

	a.start() // healthy with 1 MiB free
	fill(t, filler, 0)
	worker := func() int {
		st, err := a.status()
		if err != nil || len(st.Workers) == 0 {
			t.Fatalf("status: %v", err)
		}
		return st.Workers[0].PID
	}
	first := worker()
	syscall.Kill(first, syscall.SIGKILL)
	var st Status
	a.waitFor("the worker back and the spool degraded", 20*time.Second, func() (bool, string) {
		var err error
		if st, err = a.status(); err != nil {
			return false, err.Error()
		}
		return st.Healthy && st.Workers[0].PID != first && st.TelemetrySpool.State == "degraded", fmt.Sprintf("%+v", st.TelemetrySpool)
	})
	if !strings.Contains(st.TelemetrySpool.Reason, "space") {
		t.Errorf("the spool's reason: %q", st.TelemetrySpool.Reason)
	}
	out, _, err := a.run("status")
	if err != nil || !strings.Contains(out, "telemetry spool: degraded") {
		t.Errorf("status = %v:\n%s", err, out)
	}

	// Space returns: events are recorded again without a restart, and the
	// spool says ok once it has its spare segment back (at a write).
	os.Remove(filler)
	before := len(a.audit())
	for i := 0; ; i++ {
		pid := worker()
		syscall.Kill(pid, syscall.SIGKILL)
		a.waitFor("the worker back", 20*time.Second, func() (bool, string) {
			st, err := a.status()
			return err == nil && st.Healthy && st.Workers[0].PID != pid, fmt.Sprint(err)
		})
		st, _ := a.status()
		if st.TelemetrySpool.State == "ok" && len(a.audit()) > before {
			break
		}
		if i == 5 {
			t.Fatalf("not recording again: %+v, %d audit lines", st.TelemetrySpool, len(a.audit()))
		}
	}
	a.waitFor("the new start events in the audit log", 10*time.Second, func() (bool, string) {
		return len(a.audit()) > before+1, strings.Join(a.audit(), "\n")
	})
	if strings.Contains(a.output(), "panic") {
		t.Errorf("core output:\n%s", a.output())
	}
	if err := a.stop(); err != nil {
		t.Errorf("the core exited with %v", err)
	}
}
