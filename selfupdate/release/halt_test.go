package release

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/ssmkit/ssmkit/internal/fakecloudwatch"
	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/telemetry"
	cw "github.com/ssmkit/ssmkit/telemetry/cloudwatch"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

// report sends one update result per agent through the real Metrics sink,
// failed for the first failed of them.
func report(t testing.TB, s *fakecloudwatch.Server, target string, agents, failed int, at time.Time) {
	t.Helper()
	client := cloudwatch.NewFromConfig(s.Config())
	for i := range agents {
		code := "UpdateSucceeded_SelfUpdate-" + target
		if i < failed {
			code = "UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-" + target
		}
		sink := &cw.Metrics{Client: client, InstanceID: fmt.Sprintf("i-%04d", i)}
		e := telemetry.Event{ID: fmt.Sprint(i), Time: at, Type: ssm.TypeUpdateResult, Name: code,
			Attributes: map[string]string{ssm.AttrSourceVersion: "1.0.0", ssm.AttrTargetVersion: target}}
		if n, err := sink.Send(context.Background(), []telemetry.Event{e}); n != 1 || err != nil {
			t.Fatalf("Send = %d, %v", n, err)
		}
	}
}

// A release whose agents fail past the threshold is paused, re-sealed and
// re-published; agents that have not taken it then do not.
func TestHaltOnFailure(t *testing.T) {
	c := fakeS3(t)
	key, pub := testKey(t)
	ctx := context.Background()
	s := fakecloudwatch.New()
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	m := New(testFormat)
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	p := &Publisher{Target: s3Target(c), Packages: dir1}
	if _, err := p.Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	ro := &manifest.Rollout{Start: now.Add(-time.Hour), Waves: []manifest.Wave{{Percent: 100}}}
	d2, s2, dir2 := addRelease(t, m, key, "2.0.0", ro)
	p.Packages = dir2
	if _, err := p.Publish(ctx, d2, s2); err != nil {
		t.Fatal(err)
	}
	// Results before the rollout's start do not count.
	report(t, s, "2.0.0", 50, 50, now.Add(-2*time.Hour))
	report(t, s, "2.0.0", 15, 3, now.Add(-30*time.Minute)) // 20 %, but under MinResults
	report(t, s, "1.0.0", 30, 30, now.Add(-30*time.Minute))

	var published []string
	h := &Halt{
		Package: testPackage, Rule: Rule{Threshold: 0.2, MinResults: 20},
		Results: &CloudWatch{Client: cloudwatch.NewFromConfig(s.Config())},
		Now:     func() time.Time { return now },
		Load: func(ctx context.Context) (*manifest.Manifest, error) {
			rc, _, err := s3Target(c).Open(ctx, DefaultManifestName)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return manifest.Parse(bytes.NewReader(b))
		},
		Pause: func(ctx context.Context, m *manifest.Manifest, versions []string) error {
			published = append(published, versions...)
			data, sig, err := Seal(m, key, now.Add(24*time.Hour))
			if err == nil {
				_, err = (&Publisher{Target: s3Target(c)}).Publish(ctx, data, sig)
			}
			return err
		},
	}
	pass, err := h.Once(ctx)
	if err != nil || len(pass.Paused) != 0 {
		t.Fatalf("under MinResults: %+v, %v", pass, err)
	}
	if got := fmt.Sprint(pass.Versions[1].Counts, pass.Versions[0].Counts); got != "{12 3} {0 30}" {
		t.Errorf("counts %s", got)
	}
	report(t, s, "2.0.0", 10, 3, now.Add(-10*time.Minute)) // 6 of 25 failed: 24 %
	pass, err = h.Once(ctx)
	if err != nil || fmt.Sprint(pass.Paused) != "[2.0.0]" || fmt.Sprint(published) != "[2.0.0]" {
		t.Fatalf("past the threshold: %+v, %v", pass, err)
	}
	plan, err := agent(t, c, pub, "1.0.0").Check(ctx)
	if err != nil || plan.Decision.Rollout == nil || !plan.Decision.Rollout.Paused || plan.Decision.Action == manifest.ActionUpdate {
		t.Fatalf("agent after the halt: %+v, %v", plan, err)
	}
	if v, _ := seen(t, c, pub); v != 3 {
		t.Errorf("manifest version %d after the pause, want 3", v)
	}
	// A paused release is not paused again.
	if pass, err := h.Once(ctx); err != nil || len(pass.Paused) != 0 || !pass.Versions[1].Paused {
		t.Errorf("again: %+v, %v", pass, err)
	}
}

// Serve makes a pass at once and one every Interval.
func TestHaltServe(t *testing.T) {
	passes := make(chan Pass, 4)
	m := New(testFormat)
	m.AddRelease(testPackage, testFile, manifest.Release{Version: manifest.MustParseVersion("1.0.0"), Checksum: fmt.Sprintf("%064d", 0)})
	h := &Halt{Package: testPackage, Rule: Rule{Threshold: 0.5, MinResults: 1}, Interval: time.Millisecond,
		Results: countsFunc(func(qs []ResultQuery) []Counts { return make([]Counts, len(qs)) }),
		Load:    func(context.Context) (*manifest.Manifest, error) { return m, nil },
		Pause:   func(context.Context, *manifest.Manifest, []string) error { return nil },
		OnPass: func(p Pass, err error) {
			select {
			case passes <- p:
			default:
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Serve(ctx) }()
	<-passes
	<-passes
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Serve = %v", err)
	}
	if err := (&Halt{}).Serve(ctx); err == nil {
		t.Error("Serve without a configuration")
	}
}

type countsFunc func([]ResultQuery) []Counts

func (f countsFunc) Counts(_ context.Context, qs []ResultQuery, _ time.Time) ([]Counts, error) {
	return f(qs), nil
}
