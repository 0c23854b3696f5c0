//go:build linux

package selfupdate

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size (like "64m") on a new directory, or
// skips the test where that cannot be done (not root).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestSmallUpdateOnSmallDisk is the update the old rule refused: 9 MB on
// a disk with much less than MaxUnpackedBytes/4 free.
func TestSmallUpdateOnSmallDisk(t *testing.T) {
	s := newSetup(t)
	disk := mountTmpfs(t, "64m")
	layout := Layout{Dir: filepath.Join(disk, "install")}
	conf := filepath.Join(disk, "agent.conf")
	os.WriteFile(conf, []byte("ok"), 0o644)
	if err := layout.Install("1.0.0", map[string]string{"agent.conf": conf}); err != nil {
		t.Fatal(err)
	}
	if err := layout.Switch("1.0.0"); err != nil {
		t.Fatal(err)
	}
	s.svc.layout = layout
	t.Cleanup(s.svc.stop) // before the unmount
	s.cfg.InstallDir, s.cfg.StateDir = layout.Dir, filepath.Join(disk, "update")
	pkg := storedTarGz(t, map[string][]byte{"agent.conf": []byte("ok"), "bin/ssm-agent": randomBytes(9 << 20)})
	s.repo.publish(t, "", offer{version: "1.0.0", status: "Deprecated", conf: "ok"}, offer{version: "2.0.0", status: "Active", pkg: pkg})
	free, err := freeBytes(disk)
	if err != nil || free > DefaultMaxUnpackedBytes/4 {
		t.Fatalf("%d bytes free, %v", free, err)
	}
	r, err := s.updater(t).Update(context.Background())
	if err != nil || r.Code != "UpdateSucceeded_SelfUpdate-2.0.0" {
		t.Fatalf("a 9 MB update with %d bytes free: %+v, %v", free, r, err)
	}
	if got := dirEntries(t, filepath.Join(s.cfg.StateDir, "downloads")); len(got) != 0 {
		t.Errorf("left in downloads: %v", got)
	}
}

// storedTarGz is a .tar.gz of files, not compressed: quick to make, and as
// big as its contents.
func storedTarGz(t *testing.T, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	tw := tar.NewWriter(zw)
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	if tw.Close() != nil || zw.Close() != nil {
		t.Fatal("tar.gz")
	}
	return buf.Bytes()
}

func TestSpaceRule(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name      string
		size      int
		rule      SpaceRule
		unpackDir string // "": on the downloads' tmpfs; else the size of its own
		refused   string // which directory is short: "downloads" or "unpack"
	}{
		{name: "9 MiB", size: 9 * mib},
		{name: "20 MiB", size: 20 * mib, refused: "downloads"},
		{name: "20 MiB unpacked to as much", size: 20 * mib, rule: SpaceRule{UnpackFactor: 1}},
		{name: "20 MiB with a big margin", size: 20 * mib, rule: SpaceRule{UnpackFactor: 1, Margin: 30 * mib}, refused: "downloads"},
		{name: "9 MiB unpacked to another small disk", size: 9 * mib, unpackDir: "16m", refused: "unpack"},
		{name: "9 MiB unpacked to another disk", size: 9 * mib, unpackDir: "32m"},
		{name: "40 MiB, unpacked elsewhere", size: 40 * mib, rule: SpaceRule{UnpackFactor: 0.1}, unpackDir: "32m"},
		{name: "60 MiB, unpacked elsewhere", size: 60 * mib, rule: SpaceRule{UnpackFactor: 0.1}, unpackDir: "32m", refused: "downloads"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule := c.rule
			if err := rule.setDefaults(); err != nil {
				t.Fatal(err)
			}
			disk := mountTmpfs(t, "64m")
			downloads, unpack := filepath.Join(disk, "downloads"), filepath.Join(disk, "versions")
			if c.unpackDir != "" {
				unpack = mountTmpfs(t, c.unpackDir)
			}
			os.Mkdir(downloads, 0o700)
			os.Mkdir(unpack, 0o700)
			obj := randomBytes(c.size)
			s := newObjServer(t, obj)
			freeD, _ := freeBytes(downloads)
			freeU, _ := freeBytes(unpack)
			err := fetch(context.Background(), &HTTPSource{}, fetchSpec{
				url: s.url(), path: filepath.Join(downloads, "pkg"), sum: sha256hex(obj), maxBytes: 1 << 30,
				unpackDir: unpack, factor: rule.UnpackFactor, maxUnpacked: DefaultMaxUnpackedBytes, margin: rule.Margin, sweep: true,
			})
			size := int64(c.size)
			unpacked := int64(rule.UnpackFactor*float64(size) + 0.999)
			var want string
			switch {
			case c.refused == "downloads" && c.unpackDir == "":
				want = fmt.Sprintf("%d bytes free in %s, %d needed", freeD, downloads, size+unpacked+rule.Margin)
			case c.refused == "downloads":
				want = fmt.Sprintf("%d bytes free in %s, %d needed", freeD, downloads, size+rule.Margin)
			case c.refused == "unpack":
				want = fmt.Sprintf("%d bytes free in %s, %d needed", freeU, unpack, unpacked+rule.Margin)
			}
			if want == "" {
				if err != nil {
					t.Fatalf("fetch with %d and %d bytes free: %v", freeD, freeU, err)
				}
				return
			}
			if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), want) {
				t.Fatalf("fetch = %v\nwant ErrNoSpace and %q", err, want)
			}
			if got := dirEntries(t, downloads); len(got) != 0 {
				t.Errorf("left: %v", got)
			}
		})
	}
}

func TestSpaceRuleValidation(t *testing.T) {
	base := newSetup(t).cfg
	for _, r := range []SpaceRule{{UnpackFactor: -1}, {Margin: -1}} {
		cfg := base
		cfg.FreeSpace = r
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Config.FreeSpace.") {
			t.Errorf("New with %+v: %v", r, err)
		}
	}
	u, err := New(base)
	if err != nil || u.cfg.FreeSpace != (SpaceRule{UnpackFactor: DefaultUnpackFactor, Margin: DefaultSpaceMargin}) {
		t.Errorf("defaults %+v, %v", u.cfg.FreeSpace, err)
	}
}
