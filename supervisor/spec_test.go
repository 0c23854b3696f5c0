package supervisor

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSpecDefaults(t *testing.T) {
	s, err := Spec{Name: "w", Path: "/bin/w"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s.Restart != RestartAlways || s.Protocol != ProtocolPlain || s.Orphans != OrphanAdopt ||
		s.Backoff != (Backoff{100 * time.Millisecond, 30 * time.Second, 2, 0.2}) ||
		s.Intensity != (Intensity{5, time.Minute}) || s.StableAfter != 10*time.Second ||
		s.StopTimeout != 10*time.Second || s.HealthInterval != 5*time.Second ||
		s.HealthTimeout != 2*time.Second || s.MaxMissedPings != 3 {
		t.Errorf("defaults: %+v", s)
	}
	s, _ = Spec{Name: "w", Path: "p", Backoff: Backoff{Initial: -1, Jitter: -1}, HealthInterval: time.Second, HealthTimeout: 5 * time.Second}.withDefaults()
	if s.Backoff.Initial != 0 || s.Backoff.Jitter != 0 || s.HealthTimeout != time.Second {
		t.Errorf("negative initial/jitter and timeout capping: %+v", s)
	}
}

func TestSpecValidation(t *testing.T) {
	tests := []struct {
		spec  Spec
		field string
	}{
		{Spec{Path: "p"}, "Name"},
		{Spec{Name: "a/b", Path: "p"}, "Name"},
		{Spec{Name: strings.Repeat("x", 65), Path: "p"}, "Name"},
		{Spec{Name: "w"}, "Path"},
		{Spec{Name: "w", Path: "p", Restart: "sometimes"}, `Restart: unknown policy "sometimes"`},
		{Spec{Name: "w", Path: "p", Protocol: "grpc"}, "Protocol"},
		{Spec{Name: "w", Path: "p", Orphans: "ignore"}, "Orphans"},
		{Spec{Name: "w", Path: "p", Backoff: Backoff{Max: -1}}, "Backoff.Max"},
		{Spec{Name: "w", Path: "p", Backoff: Backoff{Multiplier: 0.5}}, "Backoff.Multiplier"},
		{Spec{Name: "w", Path: "p", Backoff: Backoff{Jitter: 1.5}}, "Backoff.Jitter"},
		{Spec{Name: "w", Path: "p", StopTimeout: -1}, "StopTimeout"},
		{Spec{Name: "w", Path: "p", HealthInterval: -1}, "HealthInterval"},
		{Spec{Name: "w", Path: "p", Intensity: Intensity{Decay: -time.Second}}, "Intensity.Decay"},
		{Spec{Name: "w", Path: "p", MaxMissedPings: -2}, "MaxMissedPings"},
		{Spec{Name: "w", Path: "p", PermanentExitCodes: []int{256}}, "PermanentExitCodes"},
	}
	if runtime.GOOS != "linux" {
		tests = append(tests, struct {
			spec  Spec
			field string
		}{Spec{Name: "w", Path: "p", DieWithCore: true}, "DieWithCore"})
	}
	for _, tt := range tests {
		_, err := tt.spec.withDefaults()
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("spec %+v: error %v, want one naming %s", tt.spec, err, tt.field)
		}
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Spec{Name: "w", Path: "p", Protocol: ProtocolWorkerproto}); err == nil || !strings.Contains(err.Error(), "Config.Socket") {
		t.Errorf("workerproto without a socket: %v", err)
	}
	if _, err := New(Config{MaxJobs: -1}); err == nil {
		t.Error("negative MaxJobs accepted")
	}
}

func TestTail(t *testing.T) {
	tl := newTail(8)
	tl.Write([]byte("abc"))
	tl.Write([]byte("defgh"))
	tl.Write([]byte("ij"))
	if got := tl.String(); got != "cdefghij" {
		t.Errorf("tail %q", got)
	}
	tl.Write([]byte("0123456789"))
	if got := tl.String(); got != "23456789" {
		t.Errorf("tail %q", got)
	}
}

func TestEventString(t *testing.T) {
	e := Event{Kind: EventExited, Worker: "w", PID: 42, Exit: &ExitStatus{Code: 3}, Reason: "exited"}
	if got := e.String(); got != "w exited pid=42 exit=exit status 3: exited" {
		t.Errorf("%q", got)
	}
	if got := (&ExitStatus{Code: -1, Signal: "killed"}).String(); got != "signal: killed" {
		t.Errorf("%q", got)
	}
}
