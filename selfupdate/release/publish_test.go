package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/ssmkit/ssmkit/manifest"
	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

func kinds(steps []Step) string {
	var b []string
	for _, s := range steps {
		b = append(b, s.Kind+" "+s.Key)
	}
	return strings.Join(b, "; ")
}

// Packages first, then the signature, then the manifest; an agent reads
// each new release from S3 and verifies it.
func TestPublishS3(t *testing.T) {
	c := fakeS3(t)
	key, pub := testKey(t)
	ctx := context.Background()
	m := New(testFormat)
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	p := &Publisher{Target: s3Target(c), Packages: dir1}
	rep, err := p.Publish(ctx, d1, s1)
	if err != nil {
		t.Fatal(err)
	}
	want := "package uploaded amazon-ssm-agent/1.0.0/" + testFile + "; signature ssm-agent-manifest.json.sig; manifest ssm-agent-manifest.json"
	if got := kinds(rep.Steps); got != want || rep.Replaced != 0 {
		t.Fatalf("steps %s (replaced %d), want %s", got, rep.Replaced, want)
	}
	if v, err := seen(t, c, pub); err != nil || v != 1 {
		t.Fatalf("agent sees %d, %v", v, err)
	}
	// Again: nothing to do.
	if rep, err := p.Publish(ctx, d1, s1); err != nil || !rep.UpToDate || len(rep.Steps) != 0 {
		t.Errorf("again: %+v, %v", rep, err)
	}
	d2, s2, dir2 := addRelease(t, m, key, "2.0.0", nil)
	p.Packages = dir2
	rep, err = p.Publish(ctx, d2, s2)
	if err != nil {
		t.Fatal(err)
	}
	want = "package uploaded amazon-ssm-agent/2.0.0/" + testFile + "; signature ssm-agent-manifest.json.sig; manifest ssm-agent-manifest.json; signature alone ssm-agent-manifest.json.sig"
	if got := kinds(rep.Steps); got != want || rep.Replaced != 1 {
		t.Errorf("steps %s (replaced %d), want %s", got, rep.Replaced, want)
	}
	plan, err := agent(t, c, pub, "1.0.0").Check(ctx)
	if err != nil || plan.Decision.Action != manifest.ActionUpdate || plan.Decision.Target.Version.String() != "2.0.0" ||
		plan.URL != "s3://releases/agent/amazon-ssm-agent/2.0.0/"+testFile {
		t.Fatalf("agent plan %+v, %v", plan, err)
	}
	// The agent downloads and verifies the package at that URL.
	obj, _, err := s3Target(c).Open(ctx, "amazon-ssm-agent/2.0.0/"+testFile)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj)
	obj.Close()
	sum, _ := FileChecksum(dir2 + "/" + testFile)
	if fmt.Sprintf("%x", sha(got)) != sum || !strings.EqualFold(plan.Decision.Target.Checksum, sum) {
		t.Errorf("published package differs")
	}
	// A stale manifest (the first again) is refused.
	if _, err := p.Publish(ctx, d1, s1); !errors.Is(err, ErrStale) {
		t.Errorf("stale publish: %v", err)
	}
}

// A different file already published at a package's key is never
// overwritten; a package neither local nor published stops the publish
// before anything an agent reads changes.
func TestPublishRefusesPackages(t *testing.T) {
	c := fakeS3(t)
	key, pub := testKey(t)
	ctx := context.Background()
	m := New(testFormat)
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	if _, err := (&Publisher{Target: s3Target(c), Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	tgt := s3Target(c)
	bogus := []byte("not the release")
	if _, err := tgt.Put(ctx, "amazon-ssm-agent/2.0.0/"+testFile, bytes.NewReader(bogus), int64(len(bogus)), nil, Condition{}); err != nil {
		t.Fatal(err)
	}
	m3, _ := clone(m)
	d2, s2, dir2 := addRelease(t, m, key, "2.0.0", nil)
	_, err := (&Publisher{Target: tgt, Packages: dir2}).Publish(ctx, d2, s2)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "not overwritten") {
		t.Errorf("different package at the key: %v", err)
	}
	d3, s3, _ := addRelease(t, m3, key, "3.0.0", nil)
	_, err = (&Publisher{Target: tgt, Packages: t.TempDir()}).Publish(ctx, d3, s3)
	if !errors.Is(err, ErrMissingPackage) {
		t.Errorf("missing package: %v", err)
	}
	if v, err := seen(t, c, pub); err != nil || v != 1 {
		t.Errorf("agent sees %d, %v; want the first manifest still", v, err)
	}
	// A UriFormat elsewhere than the target is refused before any upload.
	other := New("s3://releases/elsewhere/{PackageName}/{PackageVersion}/{FileName}")
	d, s, dir := addRelease(t, other, key, "1.0.0", nil)
	if _, err := (&Publisher{Target: tgt, Packages: dir}).Publish(ctx, d, s); err == nil || !strings.Contains(err.Error(), "s3://releases/elsewhere/") {
		t.Errorf("UriFormat elsewhere: %v", err)
	}
	_, otherPub := testKey(t)
	if _, err := (&Publisher{Target: tgt, PublicKeys: []ed25519.PublicKey{otherPub}, Packages: dir1}).Publish(ctx, d1, s1); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("a signature by another key: %v", err)
	}
	if _, err := (&Publisher{Target: tgt, PublicKeys: []ed25519.PublicKey{pub}, Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Errorf("with the agents' key: %v", err)
	}
	if _, err := (&Publisher{Target: tgt}).Publish(ctx, []byte(`{"SchemaVersion":"1.0","UriFormat":"x/{FileName}","Packages":[]}`), nil); err == nil {
		t.Error("published an unsealed manifest")
	}
}

// hookTarget runs before(key) ahead of each Put and can fail the n-th.
type hookTarget struct {
	Target
	before func(key string) error
}

func (h *hookTarget) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, sum []byte, c Condition) (string, error) {
	if h.before != nil {
		if err := h.before(key); err != nil {
			return "", err
		}
	}
	return h.Target.Put(ctx, key, body, size, sum, c)
}

// Of two publishers that read the same published manifest, the one that
// writes second fails with ErrConflict and changes nothing agents read:
// the signature and manifest writes are conditional on what each read.
func TestPublishRace(t *testing.T) {
	c := fakeS3(t)
	key, pub := testKey(t)
	ctx := context.Background()
	m := New(testFormat)
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	if _, err := (&Publisher{Target: s3Target(c), Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	mA, _ := clone(m)
	mB, _ := clone(m)
	dA, sA, dirA := addRelease(t, mA, key, "2.0.0", nil)
	dB, sB, dirB := addRelease(t, mB, key, "2.1.0", nil)
	// B reads, then A publishes all the way, then B writes.
	var once sync.Once
	var errA error
	b := &Publisher{Target: &hookTarget{Target: s3Target(c), before: func(string) error {
		once.Do(func() { _, errA = (&Publisher{Target: s3Target(c), Packages: dirA}).Publish(ctx, dA, sA) })
		return nil
	}}, Packages: dirB}
	rep, errB := b.Publish(ctx, dB, sB)
	if errA != nil || !errors.Is(errB, ErrConflict) {
		t.Fatalf("A: %v; B: %v (%s)", errA, errB, kinds(rep.Steps))
	}
	if v, err := seen(t, c, pub); err != nil || v != 2 {
		t.Fatalf("agent sees %d, %v", v, err)
	}
	plan, _ := agent(t, c, pub, "1.0.0").Check(ctx)
	if plan.Decision.Target.Version.String() != "2.0.0" {
		t.Errorf("target %s, want A's", plan.Decision.Target.Version)
	}
	// Truly concurrent publishers of the same ManifestVersion: one wins,
	// the others fail, and agents verify the winner's pair.
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		mi, _ := clone(mA)
		di, si, diri := addRelease(t, mi, key, fmt.Sprintf("3.%d.0", i), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = (&Publisher{Target: s3Target(c), Packages: diri}).Publish(ctx, di, si)
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrConflict) && !errors.Is(err, ErrStale):
			t.Errorf("a losing publisher: %v", err)
		}
	}
	if v, err := seen(t, c, pub); wins != 1 || err != nil || v != 3 {
		t.Errorf("%d publishers won; agent sees %d, %v", wins, v, err)
	}
}

// A publish that fails at any write leaves agents on a pair that
// verifies: the old one (a failure before the manifest, whose signature
// is put back when the manifest's put fails) — and publishing again then
// finishes it.
func TestPublishInterrupted(t *testing.T) {
	key, pub := testKey(t)
	ctx := context.Background()
	for failAt := range 3 { // the package, the signature, the manifest
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			c := fakeS3(t)
			m := New(testFormat)
			d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
			if _, err := (&Publisher{Target: s3Target(c), Packages: dir1}).Publish(ctx, d1, s1); err != nil {
				t.Fatal(err)
			}
			d2, s2, dir2 := addRelease(t, m, key, "2.0.0", nil)
			puts := 0
			ft := &hookTarget{Target: s3Target(c), before: func(key string) error {
				puts++
				if puts == failAt+1 {
					return errors.New("injected failure")
				}
				return nil
			}}
			if _, err := (&Publisher{Target: ft, Packages: dir2}).Publish(ctx, d2, s2); err == nil {
				t.Fatal("no failure")
			}
			if v, err := seen(t, c, pub); err != nil || v != 1 {
				t.Fatalf("after a failure at put %d the agent sees %d, %v", failAt+1, v, err)
			}
			if _, err := (&Publisher{Target: s3Target(c), Packages: dir2}).Publish(ctx, d2, s2); err != nil {
				t.Fatal(err)
			}
			if v, err := seen(t, c, pub); err != nil || v != 2 {
				t.Fatalf("after publishing again the agent sees %d, %v", v, err)
			}
		})
	}
}

// An agent reading between any two of a publish's uploads gets a manifest
// that verifies: the old one until the manifest's upload, the new one from
// then on.
func TestPublishWindowConsistent(t *testing.T) {
	c := fakeS3(t)
	key, pub := testKey(t)
	ctx := context.Background()
	m := New(testFormat)
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	if _, err := (&Publisher{Target: s3Target(c), Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	d2, s2, dir2 := addRelease(t, m, key, "2.0.0", nil)
	var during []string
	p := &Publisher{Target: s3Target(c), Packages: dir2, OnStep: func(s Step) {
		v, err := seen(t, c, pub)
		during = append(during, fmt.Sprintf("%s: %d %v", s.Kind, v, err))
	}}
	if _, err := p.Publish(ctx, d2, s2); err != nil {
		t.Fatal(err)
	}
	want := "package uploaded: 1 <nil>; signature: 1 <nil>; manifest: 2 <nil>; signature alone: 2 <nil>"
	if got := strings.Join(during, "; "); got != want {
		t.Errorf("agents saw %s\nwant %s", got, want)
	}
}
