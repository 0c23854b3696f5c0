//go:build unix

package selfupdate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

// TestServeSchedule runs Serve in a bubble with a manifest whose target
// package fails its checksum: attempts come at the first jittered delay,
// then once per period, never in a tight loop.
func TestServeSchedule(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg.tar.gz")
	os.WriteFile(pkg, tarGz(t, map[string]string{"agent.conf": "ok"}), 0o644)
	m := `{"SchemaVersion":"1.0","UriFormat":"file://` + dir + `/pkg.tar.gz?{PackageName}{PackageVersion}{FileName}",
		"Packages":[{"Name":"amazon-ssm-agent","Files":[{"Name":"amazon-ssm-agent-linux-amd64.tar.gz","AvailableVersions":[
		{"Version":"1.0.0","CheckSum":"` + strings.Repeat("0", 64) + `","Status":"Deprecated"},
		{"Version":"2.0.0","CheckSum":"` + strings.Repeat("1", 64) + `","Status":"Active"}]}]}]}`
	os.WriteFile(filepath.Join(dir, "m.json"), []byte(m), 0o644)
	layout := Layout{Dir: filepath.Join(dir, "install")}
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var attempts []time.Duration
		start := time.Now()
		u, err := New(Config{
			ManifestURL: "file://" + filepath.Join(dir, "m.json"),
			Platform:    manifest.Platform{Name: "linux", Arch: "amd64"},
			Current:     manifest.MustParseVersion("1.0.0"),
			InstallDir:  layout.Dir, StateDir: filepath.Join(dir, "update"),
			Restarter: fileService{layout}, Health: fileService{layout},
			Schedule:       Schedule{Days: 2, JitterMin: time.Hour, JitterMax: 2 * time.Hour},
			HealthInterval: time.Hour,
			OnResult: func(r Result) {
				mu.Lock()
				attempts = append(attempts, time.Since(start))
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		served := make(chan error, 1)
		go func() { served <- u.Serve(ctx); close(done) }()
		time.Sleep(time.Minute)
		if err := u.Serve(ctx); !errors.Is(err, ErrServing) {
			t.Errorf("a second Serve = %v, want ErrServing", err)
		}
		time.Sleep(5 * 24 * time.Hour)
		cancel()
		<-done
		if err := <-served; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want the context's error", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(attempts) != 2 && len(attempts) != 3 {
			t.Fatalf("%d attempts in 5 days with a 2-day schedule: %v", len(attempts), attempts)
		}
		if a := attempts[0]; a < time.Hour || a > 2*time.Hour {
			t.Errorf("first attempt after %v, want 1h–2h", a)
		}
		if gap := attempts[1] - attempts[0]; gap < 49*time.Hour || gap > 50*time.Hour {
			t.Errorf("second attempt %v after the first, want 2 days + 1h–2h", gap)
		}
	})
}

// TestServeAndNewRefuseWhatCannotWork: a schedule out of range is an error
// of New, and Serve without what it needs returns at once with one.
func TestServeAndNewRefuseWhatCannotWork(t *testing.T) {
	base := Config{Current: manifest.MustParseVersion("1.0.0"), InstallDir: t.TempDir(), StateDir: t.TempDir(),
		Platform: manifest.Platform{Name: "linux", Arch: "amd64"}}
	for _, days := range []int{-1, 8, 30} {
		cfg := base
		cfg.Schedule.Days = days
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Config.Schedule.Days") {
			t.Errorf("Schedule.Days %d: New = %v", days, err)
		}
	}
	u, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Serve(t.Context()); err == nil || !strings.Contains(err.Error(), "Config.Restarter") {
		t.Errorf("Serve without a Restarter = %v", err)
	}
}
