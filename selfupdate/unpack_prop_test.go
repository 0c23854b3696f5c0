//go:build unix

package selfupdate

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An archive spec is text, one entry a line after the format ("tar" or
// "zip"): a kind letter, the name, the link target and an octal mode,
// separated by single spaces. Kinds: d directory, f file, x executable
// file, l symbolic link, h hard link (a plain file in a zip), p pipe, B a
// file declaring 1 TiB with no data. Text keeps the seed corpus readable
// and lets the fuzzer reach names byte by byte.
func buildArchive(t testing.TB, spec string) (name string, b []byte) {
	lines := strings.Split(spec, "\n")
	var es []specEntry
	for _, line := range lines[1:min(len(lines), 65)] {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		for len(f) < 4 {
			f = append(f, "")
		}
		mode, err := strconv.ParseInt(f[3], 8, 32)
		if err != nil {
			mode = 0o644
		}
		es = append(es, specEntry{kind: f[0], name: f[1], target: f[2], mode: mode})
	}
	if strings.HasPrefix(lines[0], "zip") {
		return "p.zip", buildZip(es)
	}
	return "p.tar.gz", buildTar(es)
}

type specEntry struct {
	kind, name, target string
	mode               int64
}

func buildTar(es []specEntry) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.target, Mode: e.mode, Format: tar.FormatPAX}
		body := "body of " + e.name
		switch e.kind {
		case "d":
			h.Typeflag = tar.TypeDir
		case "f", "x":
			h.Typeflag, h.Size = tar.TypeReg, int64(len(body))
		case "l":
			h.Typeflag = tar.TypeSymlink
		case "h":
			h.Typeflag = tar.TypeLink
		case "p":
			h.Typeflag = tar.TypeFifo
		case "B":
			h.Typeflag, h.Size = tar.TypeReg, 1<<40
			if tw.WriteHeader(h) == nil {
				zw.Close() // the data never comes
				return buf.Bytes()
			}
			continue
		default:
			continue
		}
		if tw.WriteHeader(h) == nil && h.Size > 0 {
			io.WriteString(tw, body)
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func buildZip(es []specEntry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: time.Unix(1e9, 0)}
		body := "body of " + e.name
		mode := fs.FileMode(e.mode).Perm()
		switch e.kind {
		case "d":
			h.SetMode(fs.ModeDir | mode)
			body = ""
		case "f", "x", "h":
			h.SetMode(mode)
		case "l":
			h.SetMode(fs.ModeSymlink | 0o777)
			body = e.target
		case "p":
			h.SetMode(fs.ModeNamedPipe | mode)
		case "B":
			h.Method, h.UncompressedSize64, h.CompressedSize64 = zip.Store, 1<<40, 4
			if w, err := zw.CreateRaw(h); err == nil {
				io.WriteString(w, "bomb")
			}
			continue
		default:
			continue
		}
		if w, err := zw.CreateHeader(h); err == nil {
			io.WriteString(w, body)
		}
	}
	zw.Close()
	return buf.Bytes()
}

// A jail is a canary tree with the package's place in it.
type jail struct {
	top, dir string // the tree, and the package's place in it
	before   map[string]string
	canaries []os.FileInfo
}

func newJail(t testing.TB, top string) *jail {
	j := &jail{top: top, dir: canaryTree(t, top)}
	j.before = snapshot(t, top, j.dir)
	for _, d := range []string{".", "1", "1/2"} {
		for _, f := range []string{"secret", "sub/file"} {
			fi, err := os.Stat(filepath.Join(top, d, f))
			if err != nil {
				t.Fatal(err)
			}
			j.canaries = append(j.canaries, fi)
		}
	}
	return j
}

// check unpacks the archive of a spec into the jail and checks that
// nothing outside the package changed, and that what is inside stays
// inside and has the agent's modes. It leaves the jail empty.
func (j *jail) check(t testing.TB, scratch, spec string) {
	name, b := buildArchive(t, spec)
	archive := filepath.Join(scratch, name)
	if err := os.WriteFile(archive, b, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(archive)
	_, err := extract(archive, j.dir, unpackLimits{maxEntries: 64, maxBytes: 1 << 20})
	sameTree(t, j.before, snapshot(t, j.top, j.dir))
	if err != nil {
		if _, serr := os.Lstat(j.dir); serr == nil {
			t.Errorf("refused (%v), but left %s behind", err, j.dir)
		}
	} else {
		checkJail(t, j.dir, j.canaries)
	}
	if err := os.RemoveAll(j.dir); err != nil {
		t.Fatal(err)
	}
}

func checkJail(t testing.TB, jail string, canaries []os.FileInfo) {
	real, err := filepath.EvalSymlinks(jail)
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(jail, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		if r, err := filepath.EvalSymlinks(p); err == nil && r != real && !strings.HasPrefix(r, real+"/") {
			t.Errorf("%s resolves to %s, outside the package", p, r)
		}
		mode := fi.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
		case mode.IsDir() && mode.Perm() != 0o755, mode.IsRegular() && mode.Perm() != 0o644 && mode.Perm() != 0o755:
			t.Errorf("%s has mode %v", p, mode)
		case mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || mode.Perm()&0o022 != 0:
			t.Errorf("%s has mode %v", p, mode)
		case !mode.IsDir() && !mode.IsRegular():
			t.Errorf("%s is a %v", p, mode.Type())
		}
		for _, c := range canaries {
			if os.SameFile(fi, c) {
				t.Errorf("%s is a hard link to a file outside the package", p)
			}
		}
		return nil
	})
}

var (
	nameParts   = []string{"a", "b", "c", "d", "a", "b", "X", "A", "sub", "é", "."}
	hostileName = []string{"..", "", "/", `\`, "C:", "a\\..", "..."}
	targetParts = []string{"a", "b", "c", "d", "..", "..", "..", ".", "", "X", "A", "secret", "sub", "out", "1", "2"}
	specKinds   = []string{"d", "f", "x", "l", "l", "l", "l", "h", "h"}
	specModes   = []string{"644", "755", "777", "6755", "1777", "400", "0", "7777", "020"}
)

// randomName is mostly a harmless name, so that what the archive does
// with it counts; now and then it is hostile itself.
func randomName(r *rand.Rand) string {
	parts := make([]string, 1+r.IntN(3))
	for i := range parts {
		parts[i] = nameParts[r.IntN(len(nameParts))]
		if r.IntN(25) == 0 {
			parts[i] = hostileName[r.IntN(len(hostileName))]
		}
	}
	return strings.Join(parts, "/")
}

// randomTarget climbs, goes through earlier names, or both.
func randomTarget(r *rand.Rand, names []string) string {
	var parts []string
	for range 1 + r.IntN(4) {
		if len(names) > 0 && r.IntN(3) == 0 {
			parts = append(parts, names[r.IntN(len(names))])
		} else {
			parts = append(parts, targetParts[r.IntN(len(targetParts))])
		}
	}
	p := strings.Join(parts, "/")
	if r.IntN(30) == 0 {
		p = "/" + p
	}
	return p
}

// randomSpec makes an archive spec heavy in links, climbs and clashes.
func randomSpec(r *rand.Rand) string {
	var sb strings.Builder
	sb.WriteString([]string{"tar\n", "zip\n"}[r.IntN(2)])
	var names []string
	for range 1 + r.IntN(12) {
		kind := specKinds[r.IntN(len(specKinds))]
		switch r.IntN(60) {
		case 0:
			kind = "B"
		case 1:
			kind = "p"
		}
		name := randomName(r)
		target := randomTarget(r, names)
		if kind == "h" && len(names) > 0 && r.IntN(2) == 0 {
			target = names[r.IntN(len(names))]
		}
		names = append(names, name)
		fmt.Fprintf(&sb, "%s %s %s %s\n", kind, name, target, specModes[r.IntN(len(specModes))])
	}
	return sb.String()
}

// TestUnpackProperties runs the checks of FuzzUnpack on random archives
// and on the seed corpus, in every ordinary test run.
func TestUnpackProperties(t *testing.T) {
	j, scratch := newJail(t, t.TempDir()), t.TempDir()
	r := rand.New(rand.NewPCG(7, 11))
	n := 300
	if testing.Short() {
		n = 50
	}
	for i := range n {
		spec := randomSpec(r)
		j.check(t, scratch, spec)
		if t.Failed() {
			t.Fatalf("archive %d:\n%s", i, spec)
		}
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add("tar\nx ssm-agent\nl a .\nl b a/..\nl c b/..\nl d c/..\nf d/X\n")
	j, scratch := newJail(f, f.TempDir()), f.TempDir()
	f.Fuzz(func(t *testing.T, spec string) {
		j.check(t, scratch, spec)
	})
}
