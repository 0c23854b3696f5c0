//go:build unix

package release

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ssmkit/ssmkit/selfupdate/signing"
)

// Publishers racing on one directory, in one process: one wins, the
// others fail with ErrConflict (the lock is held) or ErrStale (the winner
// was done first), and the pair published verifies — the check-then-rename
// of IfETag is never raced.
func TestPublishDirRace(t *testing.T) {
	key, pub := testKey(t)
	ctx := context.Background()
	root := t.TempDir()
	m := New("https://releases.example.com/agent/{PackageName}/{PackageVersion}/{FileName}")
	d1, s1, dir1 := addRelease(t, m, key, "1.0.0", nil)
	if _, err := (&Publisher{Target: &DirTarget{Dir: root}, Packages: dir1}).Publish(ctx, d1, s1); err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		mi, _ := clone(m)
		di, si, diri := addRelease(t, mi, key, fmt.Sprintf("2.%d.0", i), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = (&Publisher{Target: &DirTarget{Dir: root}, Packages: diri}).Publish(ctx, di, si)
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
	pd, _ := os.ReadFile(filepath.Join(root, DefaultManifestName))
	ps, _ := os.ReadFile(filepath.Join(root, DefaultManifestName+".sig"))
	if f, err := signing.Verify(pd, ps, []ed25519.PublicKey{pub}); wins != 1 || err != nil || f.ManifestVersion != 2 {
		t.Errorf("%d publishers won; published %+v, %v", wins, f, err)
	}
}

// The lock: a second Lock, of the same DirTarget or another, fails at once
// naming the file; unlock lets it go (twice is harmless); a link planted
// at the lock's name is refused and its target untouched.
func TestDirTargetLock(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	a := &DirTarget{Dir: root}
	unlock, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*DirTarget{a, {Dir: root}} {
		if _, err := d.Lock(ctx); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "another publish holds "+filepath.Join(root, LockName)) {
			t.Errorf("second Lock: %v", err)
		}
	}
	unlock()
	unlock()
	u2, err := (&DirTarget{Dir: root}).Lock(ctx)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	u2()
	other := t.TempDir()
	victim := filepath.Join(other, "victim")
	os.WriteFile(victim, []byte("x"), 0o644)
	root2 := t.TempDir()
	os.Symlink(victim, filepath.Join(root2, LockName))
	if _, err := (&DirTarget{Dir: root2}).Lock(ctx); err == nil {
		t.Error("locked through a symbolic link")
	}
	if fi, _ := os.Stat(victim); fi.Mode() != 0o644 {
		t.Errorf("the link's target became %v", fi.Mode())
	}
	if got := (&DirTarget{Dir: "/srv/www"}).String(); got != "/srv/www/" {
		t.Errorf("String() = %q", got)
	}
}
