package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"
)

var benchStatuses = []string{"Active", "Inactive", "Deprecated", ""}

// generateManifest returns a valid manifest of packages × files × versions
// releases, laid out and indented like the real one.
func generateManifest(packages, files, versions int) []byte {
	w := wireManifest{
		SchemaVersion: "1.0",
		UriFormat:     "https://s3.{Region}.amazonaws.com/amazon-ssm-{Region}/{PackageName}/{PackageVersion}/{FileName}",
	}
	for p := range packages {
		pkg := wirePackage{Name: "amazon-ssm-agent-" + strconv.Itoa(p)}
		for f := range files {
			file := wireFile{Name: fmt.Sprintf("%s-platform%d-amd64.tar.gz", pkg.Name, f)}
			for v := range versions {
				file.AvailableVersions = append(file.AvailableVersions, wireRelease{
					Version:  fmt.Sprintf("3.%d.%d.0", v/100, v%100*10),
					CheckSum: fmt.Sprintf("%064x", p*1e9+f*1e6+v),
					Status:   benchStatuses[v%len(benchStatuses)],
				})
			}
			pkg.Files = append(pkg.Files, file)
		}
		w.Packages = append(w.Packages, pkg)
	}
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkParse measures Parse and, on the same bytes, a plain
// json.Unmarshal into the same wire structs that Parse decodes into.
func BenchmarkParse(b *testing.B) {
	data := generateManifest(2, 40, 250)
	b.Run("Parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var w wireManifest
			if err := json.Unmarshal(data, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseVsUnmarshal interleaves Parse and the plain unmarshal in one
// loop, so that both see the same machine state, and reports their
// throughputs and the cost ratio of Parse over the plain unmarshal.
func BenchmarkParseVsUnmarshal(b *testing.B) {
	data := generateManifest(2, 40, 250)
	var parse, plain time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := Parse(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var w wireManifest
		if err := json.Unmarshal(data, &w); err != nil {
			b.Fatal(err)
		}
		parse += t1.Sub(t0)
		plain += time.Since(t1)
	}
	mb := float64(len(data)) * float64(b.N) / 1e6
	b.ReportMetric(float64(len(data))/1e6, "MB/manifest")
	b.ReportMetric(mb/parse.Seconds(), "parse-MB/s")
	b.ReportMetric(mb/plain.Seconds(), "unmarshal-MB/s")
	b.ReportMetric(parse.Seconds()/plain.Seconds(), "parse/unmarshal")
}

// BenchmarkDecide measures a decision on a parsed manifest for files of
// growing numbers of versions: its cost must not grow with them.
func BenchmarkDecide(b *testing.B) {
	for _, versions := range []int{10, 250, 10000} {
		b.Run("versions="+strconv.Itoa(versions), func(b *testing.B) {
			m, err := ParseOptions{MaxBytes: 1 << 30}.Parse(bytes.NewReader(generateManifest(2, 40, versions)))
			if err != nil {
				b.Fatal(err)
			}
			// A Deprecated version in the middle of the last file.
			v := versions/2 - versions/2%len(benchStatuses) + 2
			q := Query{
				Package:  "amazon-ssm-agent-1",
				Platform: Platform{Name: "platform39", Arch: "amd64"},
				Current:  MustParseVersion(fmt.Sprintf("3.%d.%d.0", v/100, v%100*10)),
			}
			b.ReportAllocs()
			for b.Loop() {
				d, err := m.Decide(q)
				if err != nil || d.Action != ActionUpdate {
					b.Fatalf("Decide = %+v, %v", d, err)
				}
			}
		})
	}
}
