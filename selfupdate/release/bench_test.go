package release

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

// BenchmarkFileChecksum measures the streamed SHA-256 of a package file
// beside a plain read of the same file (the baseline: what the disk and
// page cache allow).
func BenchmarkFileChecksum(b *testing.B) {
	path := filepath.Join(b.TempDir(), "pkg.tar.gz")
	data := make([]byte, 16<<20)
	rand.Read(data)
	os.WriteFile(path, data, 0o644)
	b.SetBytes(int64(len(data)))
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, _ := os.Open(path)
			io.Copy(io.Discard, f)
			f.Close()
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := FileChecksum(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPublish publishes a release of one 4 MiB package to gofakes3
// through the real client (hash, conditional package put, read-back of
// the published manifest and signature, two conditional puts), beside the
// baseline of one plain PutObject of the same package.
func BenchmarkPublish(b *testing.B) {
	c := fakeS3(b)
	key, _ := testKey(b)
	ctx := b.Context()
	data := make([]byte, 4<<20)
	rand.Read(data)
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, testFile), data, 0o644)
	var baseline float64
	b.Run("put-baseline", func(b *testing.B) {
		tgt := s3Target(c)
		b.SetBytes(int64(len(data)))
		i := 0
		for b.Loop() {
			i++
			if _, err := tgt.Put(ctx, "base/"+strconv.Itoa(i), bytes.NewReader(data), int64(len(data)), nil, Condition{}); err != nil {
				b.Fatal(err)
			}
		}
		baseline = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("publish", func(b *testing.B) {
		m := New(testFormat)
		p := &Publisher{Target: s3Target(c), Packages: dir}
		b.SetBytes(int64(len(data)))
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			mi, _ := clone(m)
			sum, _ := FileChecksum(filepath.Join(dir, testFile))
			mi.AddRelease(testPackage, testFile, manifest.Release{Version: manifest.MustParseVersion("1.0." + strconv.Itoa(i)), Checksum: sum})
			d, s, err := Seal(mi, key, time.Now().Add(24*time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			m = mi
			b.StartTimer()
			if _, err := p.Publish(ctx, d, s); err != nil {
				b.Fatal(err)
			}
		}
		if baseline > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseline, "x-put-baseline")
		}
	})
}
