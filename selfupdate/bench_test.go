//go:build unix

package selfupdate

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// makeBenchPackage writes a .tar.gz of about size bytes to dir. The files
// are random, so the package is as big as what it holds (compressed
// binaries behave much the same).
func makeBenchPackage(b *testing.B, dir string, size int) (path, checksum string) {
	path = filepath.Join(dir, "pkg.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, h), gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	r := rand.New(rand.NewPCG(1, uint64(size)))
	chunk := make([]byte, 1<<20)
	for i := 0; i < 4; i++ { // four files, like a real package
		n := size / 4
		tw.WriteHeader(&tar.Header{Name: "bin/file" + strconv.Itoa(i), Mode: 0o755, Size: int64(n), Typeflag: tar.TypeReg})
		for n > 0 {
			for j := 0; j+8 <= len(chunk); j += 8 {
				binary.LittleEndian.PutUint64(chunk[j:], r.Uint64())
			}
			m := min(n, len(chunk))
			tw.Write(chunk[:m])
			n -= m
		}
	}
	tw.Close()
	zw.Close()
	f.Close()
	return path, hex.EncodeToString(h.Sum(nil))
}

// peakHeap samples the heap until stop is closed and returns the peak.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkInstall downloads, verifies and unpacks a 20 MB and a 200 MB
// package from loopback, as Update does, beside a baseline that copies the
// same bytes to disk, hashes them and syncs them, with no unpacking, in the
// same loop.
func BenchmarkInstall(b *testing.B) {
	for _, mb := range []int{20, 200} {
		b.Run(strconv.Itoa(mb)+"MB", func(b *testing.B) {
			dir := b.TempDir()
			pkg, checksum := makeBenchPackage(b, dir, mb<<20)
			fi, _ := os.Stat(pkg)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, pkg) }))
			defer srv.Close()
			src := NewSources(nil)
			var install, base time.Duration
			var peak atomic.Uint64
			for i := 0; b.Loop(); i++ {
				work := filepath.Join(dir, "work"+strconv.Itoa(i))
				os.MkdirAll(work, 0o700)

				t0 := time.Now()
				resp, err := http.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				f, _ := os.Create(filepath.Join(work, "copy"))
				h := sha256.New()
				io.CopyBuffer(io.MultiWriter(f, h), resp.Body, make([]byte, copyBuffer))
				resp.Body.Close()
				f.Sync()
				f.Close()
				if hex.EncodeToString(h.Sum(nil)) != checksum {
					b.Fatal("baseline hash")
				}
				base += time.Since(t0)

				stop := make(chan struct{})
				heap := peakHeap(stop)
				t1 := time.Now()
				path := filepath.Join(work, "pkg.tar.gz")
				var headers *tarHeaders // read as it downloads, as Update does
				if err := fetch(context.Background(), src, fetchSpec{url: srv.URL + "/pkg.tar.gz", path: path, sum: checksum,
					maxBytes: 1 << 30, headers: &headers, maxHeaders: 200, maxHeaderBytes: 1 << 30}); err != nil {
					b.Fatal(err)
				}
				if headers == nil || headers.err != nil || len(headers.hdrs) != 4 {
					b.Fatalf("headers read while downloading: %+v", headers)
				}
				x, err := extract(path, filepath.Join(work, "out"), unpackLimits{maxEntries: 100, maxBytes: 1 << 30, headers: headers})
				if err != nil {
					b.Fatal(err)
				}
				os.Remove(path) // as Update does
				if err := x.sync(); err != nil {
					b.Fatal(err)
				}
				install += time.Since(t1)
				close(stop)
				peak.Store(max(peak.Load(), <-heap))
				os.RemoveAll(work)
			}
			mbs := float64(fi.Size()) * float64(b.N) / 1e6
			b.ReportMetric(mbs/install.Seconds(), "install-MB/s")
			b.ReportMetric(mbs/base.Seconds(), "copy+hash-MB/s")
			b.ReportMetric(base.Seconds()/install.Seconds(), "ratio")
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		})
	}
}
