package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ssmkit/ssmkit/internal/fakecloudwatch"
	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate"
	selfupdates3 "github.com/ssmkit/ssmkit/selfupdate/s3"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
	"github.com/ssmkit/ssmkit/telemetry"
	cw "github.com/ssmkit/ssmkit/telemetry/cloudwatch"
	"github.com/ssmkit/ssmkit/telemetry/ssm"
)

const (
	relFile   = "amazon-ssm-agent-linux-amd64.tar.gz"
	relFormat = "s3://releases/agent/{PackageName}/{PackageVersion}/{FileName}"
	relTo     = "s3://releases/agent"
)

// releaseEnv starts gofakes3 and the fake CloudWatch on loopback and points
// the SDK at them, with fake static credentials and no metadata service.
func releaseEnv(t *testing.T) (*s3.Client, *fakecloudwatch.Server) {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("releases"); err != nil {
		t.Fatal(err)
	}
	fcw := fakecloudwatch.New()
	t.Cleanup(fcw.Close)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIDFAKE", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": srv.URL, "AWS_ENDPOINT_URL_CLOUDWATCH": fcw.URL,
	} {
		t.Setenv(k, v)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake", ""),
		BaseEndpoint: aws.String(srv.URL)}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), fcw
}

// relPackage writes a package of version v into a directory of its own.
func relPackage(t *testing.T, v string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "ssm-agent", Mode: 0o755, Size: int64(len(v)), Typeflag: tar.TypeReg})
	tw.Write([]byte(v))
	tw.Close()
	zw.Close()
	dir := filepath.Join(t.TempDir(), v)
	os.Mkdir(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, relFile), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mustRun runs a command line that must succeed and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	status, out, errOut := runCLI(t, "", args...)
	if status != 0 {
		t.Fatalf("ssm-agent %s = %d\n%s%s", strings.Join(args, " "), status, out, errOut)
	}
	return out
}

// relAgent is an agent on 1.0.0 reading the published manifest from S3
// and checking its signature.
func relAgent(t *testing.T, c *s3.Client, pub string) *selfupdate.Updater {
	t.Helper()
	data, _ := os.ReadFile(pub)
	key, err := signing.ParsePublicKey(data)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	u, err := selfupdate.New(selfupdate.Config{
		ManifestURL: relTo + "/ssm-agent-manifest.json", Source: selfupdate.Sources{"s3": &selfupdates3.Source{Client: c}},
		Platform: manifest.Platform{Name: "linux", Arch: "amd64"}, Current: manifest.MustParseVersion("1.0.0"),
		PublicKeys: []ed25519.PublicKey{key}, InstallDir: filepath.Join(dir, "install"), StateDir: filepath.Join(dir, "state"),
		Restarter: nopRestarter{}, Health: nopRestarter{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type nopRestarter struct{}

func (nopRestarter) Restart(context.Context, string) error { return nil }
func (nopRestarter) Check(context.Context, string) error   { return nil }

// published downloads the published manifest into a file.
func published(t *testing.T, c *s3.Client) string {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("releases"), Key: aws.String("agent/ssm-agent-manifest.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(out.Body)
	path := filepath.Join(t.TempDir(), "published.json")
	os.WriteFile(path, buf.Bytes(), 0o644)
	return path
}

// instanceAt returns an instance id whose position in v's rollout is below
// (or, with below false, at or above) pct.
func instanceAt(v string, pct float64, below bool) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("i-%017x", i)
		if p := manifest.Position(id, manifest.MustParseVersion(v)); (p < pct) == below {
			return id
		}
	}
}

// add → sign → publish to gofakes3 → agents see the release in their
// wave; failures reported to CloudWatch past the threshold pause it.
func TestReleaseEndToEnd(t *testing.T) {
	c, fcw := releaseEnv(t)
	dir := t.TempDir()
	key, pub, man := filepath.Join(dir, "rel.key"), filepath.Join(dir, "rel.pub"), filepath.Join(dir, "ssm-agent-manifest.json")
	mustRun(t, "keygen", "--out", filepath.Join(dir, "rel"))
	dist1, dist2 := relPackage(t, "1.0.0"), relPackage(t, "2.0.0")
	out := mustRun(t, "release", "add", "--manifest", man, "--key", key, "--version", "1.0.0", "--uri-format", relFormat, filepath.Join(dist1, relFile))
	if !strings.Contains(out, "ManifestVersion 1") {
		t.Errorf("add: %s", out)
	}
	out = mustRun(t, "release", "publish", "--manifest", man, "--to", relTo, "--packages", dist1, "--s3-path-style", "--public-key", pub)
	if want := "package uploaded   amazon-ssm-agent/1.0.0/" + relFile + "\nsignature          ssm-agent-manifest.json.sig\nmanifest           ssm-agent-manifest.json\n"; out != want {
		t.Errorf("publish printed %q, want %q", out, want)
	}
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	mustRun(t, "release", "add", "--manifest", man, "--key", key, "--version", "2.0.0", "--deprecate-older",
		"--waves", "10@0,100@24", "--start", start.Format(time.RFC3339), "--file", filepath.Join(dist2, relFile))
	mustRun(t, "release", "publish", "--manifest", man, "--to", relTo, "--packages", dist2, "--s3-path-style")

	// The agent reads and verifies it from S3 and its package is there.
	ctx := context.Background()
	plan, err := relAgent(t, c, pub).Check(ctx)
	if err != nil || plan.Decision.Target == nil || plan.Decision.Target.Version.String() != "2.0.0" || plan.Decision.Rollout == nil {
		t.Fatalf("agent: %+v, %v", plan, err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("releases"), Key: aws.String("agent/amazon-ssm-agent/2.0.0/" + relFile)}); err != nil {
		t.Fatalf("the package is not where the manifest says: %v", err)
	}
	// In the first wave it updates now; in the second, after 24 hours.
	path := published(t, c)
	first, second := instanceAt("2.0.0", 10, true), instanceAt("2.0.0", 10, false)
	check := func(id, at string) map[string]any {
		out := mustRun(t, "manifest", "check", "--manifest", path, "--version", "1.0.0", "--platform", "linux", "--arch", "amd64",
			"--instance-id", id, "--at", at, "--json")
		var v map[string]any
		json.Unmarshal([]byte(out), &v)
		return v
	}
	now := time.Now().UTC().Format(time.RFC3339)
	if v := check(first, now); v["action"] != "update" {
		t.Errorf("first wave now: %v", v)
	}
	if v := check(second, now); v["action"] != "none" || v["rollout"].(map[string]any)["opensAt"] != start.Add(24*time.Hour).Format(time.RFC3339) {
		t.Errorf("second wave now: %v", v)
	}
	if v := check(second, start.Add(25*time.Hour).Format(time.RFC3339)); v["action"] != "update" {
		t.Errorf("second wave a day later: %v", v)
	}

	// The first wave reports: 5 of 20 fail.
	sendResults(t, fcw, "2.0.0", 20, 5)
	out = mustRun(t, "release", "status", "--to", relTo, "--s3-path-style", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Versions) != 2 {
		t.Fatalf("status --json: %q, %v", out, err)
	}
	if v := st.Versions[1]; v.Version != "2.0.0" || v.Succeeded != 15 || v.Failed != 5 || v.Paused || !v.Rollout || v.FailureRatio != 0.25 || !v.Halt || len(st.Paused) != 0 {
		t.Errorf("status of 2.0.0: %+v", v)
	}
	out = mustRun(t, "release", "status", "--to", relTo, "--s3-path-style", "--json", "--halt", "--threshold", "0.2", "--min-results", "20",
		"--key", key, "--manifest", man)
	if err := json.Unmarshal([]byte(out), &st); err != nil || fmt.Sprint(st.Paused) != "[2.0.0]" {
		t.Fatalf("status --halt: %q, %v", out, err)
	}
	plan, err = relAgent(t, c, pub).Check(ctx)
	if err != nil || !plan.Decision.Rollout.Paused || plan.Decision.Action == manifest.ActionUpdate {
		t.Fatalf("agent after the halt: %+v, %v", plan, err)
	}
	path = published(t, c)
	if v := check(first, now); v["action"] != "none" || v["rollout"].(map[string]any)["paused"] != true {
		t.Errorf("first wave after the halt: %v", v)
	}
	if m, _ := readLocalManifest(man); m == nil || m.ManifestVersion != 3 {
		t.Errorf("the local copy was not kept in step: %+v", m)
	}
	// Resume and publish: the schedule goes on.
	mustRun(t, "release", "resume", "--manifest", man, "--key", key, "--version", "2.0.0")
	mustRun(t, "release", "publish", "--manifest", man, "--to", relTo, "--s3-path-style")
	if plan, err = relAgent(t, c, pub).Check(ctx); err != nil || plan.Decision.Rollout.Paused {
		t.Fatalf("agent after resume: %+v, %v", plan, err)
	}
	if out := mustRun(t, "release", "status", "--manifest", man); !strings.Contains(out, "2.0.0") || !strings.Contains(out, "FAILURE RATIO") {
		t.Errorf("status table: %s", out)
	}
}

// sendResults reports update results of agents through the real Metrics
// sink, failed ones first.
func sendResults(t *testing.T, fcw *fakecloudwatch.Server, target string, n, failed int) {
	t.Helper()
	client := cloudwatch.NewFromConfig(fcw.Config())
	for i := range n {
		code := "UpdateSucceeded_SelfUpdate-" + target
		if i < failed {
			code = "UpdateFailed_SelfUpdate_InstallRollback_ErrorInstallFailed-" + target
		}
		sink := &cw.Metrics{Client: client, InstanceID: fmt.Sprintf("i-%04d", i)}
		e := telemetry.Event{ID: fmt.Sprint(i), Time: time.Now(), Type: ssm.TypeUpdateResult, Name: code,
			Attributes: map[string]string{ssm.AttrSourceVersion: "1.0.0", ssm.AttrTargetVersion: target}}
		if k, err := sink.Send(context.Background(), []telemetry.Event{e}); k != 1 || err != nil {
			t.Fatalf("Send = %d, %v", k, err)
		}
	}
}

// Every release command has --help; bad input is a usage error naming the
// flag or the field.
func TestReleaseUsage(t *testing.T) {
	for _, sub := range []string{"add", "pause", "resume", "status", "publish"} {
		status, _, errOut := runCLI(t, "", "release", sub, "--help")
		if status != 0 || !strings.Contains(errOut, "Usage: ssm-agent release "+sub) {
			t.Errorf("release %s --help = %d, %q", sub, status, errOut)
		}
	}
	dir := t.TempDir()
	key, man := filepath.Join(dir, "rel.key"), filepath.Join(dir, "m.json")
	mustRun(t, "keygen", "--out", filepath.Join(dir, "rel"))
	pkg := filepath.Join(relPackage(t, "1.0.0"), relFile)
	add := []string{"release", "add", "--manifest", man, "--key", key, "--version", "1.0.0", "--uri-format", relFormat, pkg}
	far := time.Now().Add(400 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"release"}, 2, "which release command"},
		{[]string{"release", "frobnicate"}, 2, `unexpected argument "frobnicate"`},
		{append(add, "--waves", "10@0,5@24"), 2, "Waves[1].Percent"},
		{append(add, "--waves", "10@24,50@12"), 2, "Waves[1].AfterHours"},
		{append(add, "--waves", "150@0"), 2, "Waves[0].Percent"},
		{append(add, "--waves", "-1@0"), 2, "Waves[0].Percent"},
		{append(add, "--waves", "ten@0"), 2, "--waves"},
		{append(add, "--groups", "canary@0,canary@1"), 2, "Groups[1].Name"},
		{append(add, "--waves", "100@0", "--start", far), 2, "Start"},
		{append(add, "--waves", "100@0", "--start", "tomorrow"), 2, "--start"},
		{append(add, "--start", time.Now().Format(time.RFC3339)), 2, "--start needs --waves or --groups"},
		{append(add, "--expires-in", "0s"), 2, "--expires-in"},
		{append(add, "--expires-in", "1s"), 2, "--expires-in"},
		{append(add, "--expires-in", "1h"), 2, "--expires-in"},
		{[]string{"release", "pause", "--manifest", man, "--key", key, "--version", "1.0.0", "--expires-in", "30m"}, 2, "--expires-in"},
		{[]string{"release", "status", "--manifest", man, "--interval", "10s"}, 2, "--interval"},
		{[]string{"release", "status", "--to", dir, "--halt", "--key", key, "--expires-in", "1s"}, 2, "--expires-in"},
		{add[:len(add)-1], 2, "no package files"},
		{[]string{"release", "add", "--manifest", man, "--key", key, "--version", "1.0.0", pkg}, 2, "--uri-format"},
		{[]string{"release", "pause", "--manifest", man, "--key", key}, 2, "--version"},
		{[]string{"release", "publish", "--manifest", man}, 2, "--to is required"},
		{[]string{"release", "publish", "--manifest", man, "--to", "https://x/y"}, 2, "s3://bucket/prefix or a local directory"},
		{[]string{"release", "publish", "--manifest", man, "--to", "s3://"}, 2, "not an s3://bucket/prefix URL"},
		{[]string{"release", "status"}, 2, "--manifest FILE or --to"},
		{[]string{"release", "status", "--manifest", man, "--threshold", "0"}, 2, "Threshold"},
		{[]string{"release", "status", "--manifest", man, "--min-results", "0"}, 2, "MinResults"},
		{[]string{"release", "status", "--manifest", man, "--halt"}, 2, "--halt needs --to"},
	} {
		status, _, errOut := runCLI(t, "", tc.args...)
		if status != tc.status || !strings.Contains(errOut, tc.want) {
			t.Errorf("ssm-agent %s = %d, %q; want %d naming %s", strings.Join(tc.args[1:], " "), status, errOut, tc.status, tc.want)
		}
	}
	if _, err := os.Stat(man); err == nil {
		t.Error("a refused add wrote the manifest")
	}
	mustRun(t, add...)
	if status, _, errOut := runCLI(t, "", "release", "pause", "--manifest", man, "--key", key, "--version", "9.9.9"); status != 1 || !strings.Contains(errOut, "9.9.9") {
		t.Errorf("pause of a missing version = %d, %q", status, errOut)
	}
}

func FuzzParseDays(f *testing.F) {
	for _, s := range []string{"30d", "720h", "0d", "99999999d", "-1d", "1.5d", "d", "1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDays(s)
		if err == nil && strings.HasSuffix(s, "d") && (d < 0 || d%(24*time.Hour) != 0) {
			t.Errorf("%q = %v", s, d)
		}
	})
}
