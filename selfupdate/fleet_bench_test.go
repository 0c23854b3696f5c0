package selfupdate

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssmkit/ssmkit/manifest"
)

// BenchmarkFleet simulates a fleet of agents on a virtual clock (an event
// queue, not real time) against one manifest source that counts requests
// and bytes. Every agent runs the Updater's own decision code: the real
// If-None-Match fetch (readAll, so a 304 when the manifest is unchanged),
// manifest.Parse when it did change, the manifest's rollout decision
// (planFor, with the agent's instance id), the maintenance window and the
// next check time with the schedule's and the window's jitter (nextCheck).
// Installing is instantaneous: an agent whose plan is Allowed is updated.
//
// The story, from a steady state where every agent holds the old manifest
// and its ETag (and checks at a uniformly random phase of its 1-day
// schedule, with SSM's jitter of 30 min to 12 h 30): at hour 0 release
// 2.0.0 is published, rolling out in waves 1 % at 0 h, 10 % at 24 h, 100 %
// at 72 h; at hour 78 (the last wave under way) it is paused, and resumed
// at hour 102; the run ends at hour 168. Half the fleet has no window; a quarter a daily window
// 02:00–06:00 UTC; a quarter 01:00–05:00 America/New_York.
//
//	go test ./selfupdate -run '^$' -bench BenchmarkFleet -benchtime 1x
func BenchmarkFleet(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			if n > 10_000 && testing.Short() {
				b.Skip("100k agents: not in -short")
			}
			var r fleetReport
			for b.Loop() {
				r = simulateFleet(b, n, 1)
			}
			r.report(b)
		})
	}
}

// Fleet simulation timeline, from the publication of the release.
const (
	fleetWarmup  = 24 * time.Hour // the old manifest, before publication
	fleetPause   = 78 * time.Hour
	fleetResume  = 102 * time.Hour
	fleetEnd     = 168 * time.Hour
	fleetSeconds = int((fleetWarmup + fleetEnd) / time.Second)
)

var fleetWaves = []manifest.Wave{{Percent: 1, AfterHours: 0}, {Percent: 10, AfterHours: 24}, {Percent: 100, AfterHours: 72}}

// countingSource is the fleet's one manifest source: it answers as S3 or
// an HTTP server with ETags does, and counts.
type countingSource struct {
	body        []byte
	etag        string
	start       time.Time
	now         *time.Time // the virtual clock
	requests    int64
	notModified int64
	bytes       int64
	fullBytes   int64 // had every request been answered in full: the baseline
	perSecond   []int32
}

func (s *countingSource) Open(_ context.Context, _ string, req Request) (*Object, error) {
	s.requests++
	s.fullBytes += int64(len(s.body))
	if sec := int(s.now.Sub(s.start) / time.Second); sec >= 0 && sec < len(s.perSecond) {
		s.perSecond[sec]++
	}
	if req.ETag != "" && req.ETag == s.etag {
		s.notModified++
		return nil, ErrNotModified
	}
	s.bytes += int64(len(s.body))
	return &Object{Body: io.NopCloser(bytes.NewReader(s.body)), Size: int64(len(s.body)), ETag: s.etag}, nil
}

// fleetManifest is a manifest of four platforms' files with a few older
// releases each (1.0.5 the latest Active), and 2.0.0 with the rollout (1.0.5
// then Deprecated) when rollout is not "".
func fleetManifest(rollout string) []byte {
	var sb strings.Builder
	sb.WriteString(`{"SchemaVersion": "1.0", "UriFormat": "https://example.com/{PackageName}/{PackageVersion}/{FileName}", "Packages": [{"Name": "amazon-ssm-agent", "Files": [`)
	for i, p := range []string{"linux-amd64", "linux-arm64", "windows-amd64", "darwin-arm64"} {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"Name": "amazon-ssm-agent-%s.tar.gz", "AvailableVersions": [`, p)
		for v := 1; v <= 5; v++ {
			status := "Deprecated"
			if v == 5 && rollout == "" {
				status = "Active"
			}
			fmt.Fprintf(&sb, `{"Version": "1.0.%d", "CheckSum": "%064x", "Status": "%s"},`, v, v, status)
		}
		if rollout != "" {
			fmt.Fprintf(&sb, `{"Version": "2.0.0", "CheckSum": "%064x", "Status": "Active", "Rollout": %s},`, 99, rollout)
		}
		sb.WriteString(`{"Version": "0.9.0", "CheckSum": "` + strings.Repeat("0", 64) + `", "Status": "Deprecated"}]}`)
	}
	sb.WriteString("]}]}")
	return []byte(sb.String())
}

type fleetAgent struct {
	id        string
	window    *Window
	etag      string
	m         *manifest.Manifest
	current   manifest.Version
	wave      int
	updatedAt time.Time
	waitFor   time.Time // the opening it last waited for
}

type fleetEvent struct {
	at    time.Time
	agent int32
}

type fleetQueue []fleetEvent

func (q fleetQueue) Len() int           { return len(q) }
func (q fleetQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q fleetQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *fleetQueue) Push(x any)        { *q = append(*q, x.(fleetEvent)) }
func (q *fleetQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// fleet is one simulation's state.
type fleet struct {
	tb       testing.TB
	src      *countingSource
	now      time.Time
	base     Config
	schedule Schedule
	rnd      func(int64) int64
	agents   []fleetAgent
	queue    fleetQueue
	parsed   map[string]*manifest.Manifest // by ETag: one copy in memory, parsed by each agent that fetched it
	waiting  map[time.Time]int             // agents waiting for each opening: the un-jittered peak
}

const fleetURL = "https://example.com/ssm-agent-manifest.json"

// check is one agent's scheduled check, as Serve's: fetch (with its ETag),
// parse if changed, decide, install if allowed, and schedule the next.
func (f *fleet) check(i int) {
	a := &f.agents[i]
	data, tag, err := readAll(context.Background(), f.src, fleetURL, Request{ETag: a.etag}, manifest.DefaultMaxBytes, time.Minute)
	switch {
	case errors.Is(err, ErrNotModified):
	case err != nil:
		f.tb.Fatal(err)
	default:
		m, err := manifest.Parse(bytes.NewReader(data))
		if err != nil {
			f.tb.Fatal(err)
		}
		if f.parsed[tag] == nil {
			f.parsed[tag] = m
		}
		a.m, a.etag = f.parsed[tag], tag
	}
	cfg := f.base
	cfg.InstanceID, cfg.Current = a.id, a.current
	plan, err := planFor(a.m, cfg.query(f.now), a.window, fleetURL, "")
	if err != nil {
		f.tb.Fatal(err)
	}
	if plan.Allowed() {
		a.current, a.updatedAt = plan.Decision.Target.Version, f.now
	}
	if !plan.NextAllowed.IsZero() && !plan.NextAllowed.Equal(a.waitFor) {
		a.waitFor = plan.NextAllowed
		f.waiting[plan.NextAllowed]++
	}
	heap.Push(&f.queue, fleetEvent{f.now.Add(nextCheck(f.schedule, plan, f.now, f.rnd)), int32(i)})
}

// simulateFleet runs the story for n agents.
func simulateFleet(tb testing.TB, n int, seed uint64) fleetReport {
	start := mustTime("2026-12-01T00:00:00Z")
	publish := start.Add(fleetWarmup)
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	f := &fleet{tb: tb, now: start, rnd: rng.Int64N, parsed: map[string]*manifest.Manifest{}, waiting: map[time.Time]int{},
		schedule: Schedule{Days: 1, JitterMin: DefaultJitterMin, JitterMax: DefaultJitterMax},
		base:     Config{Package: DefaultPackage, Platform: manifest.Platform{Name: "linux", Arch: "amd64"}}}
	f.src = &countingSource{start: start, now: &f.now, perSecond: make([]int32, fleetSeconds)}
	rollout := func(paused bool) string {
		return fmt.Sprintf(`{"Start": "%s", "Waves": [{"Percent": 1, "AfterHours": 0}, {"Percent": 10, "AfterHours": 24}, {"Percent": 100, "AfterHours": 72}], "Paused": %v}`,
			publish.Format(time.RFC3339), paused)
	}
	versions := []struct {
		at   time.Time
		body []byte
	}{{start, fleetManifest("")}, {publish, fleetManifest(rollout(false))}, {publish.Add(fleetPause), fleetManifest(rollout(true))}, {publish.Add(fleetResume), fleetManifest(rollout(false))}}
	f.src.body, f.src.etag = versions[0].body, `"v0"`
	old, err := manifest.Parse(bytes.NewReader(versions[0].body))
	if err != nil {
		tb.Fatal(err)
	}
	f.parsed[`"v0"`] = old
	utc := &Window{Start: 2 * time.Hour, Duration: 4 * time.Hour}
	ny := &Window{Start: time.Hour, Duration: 4 * time.Hour, Location: time.FixedZone("EST", -5*3600)}
	if loc, err := time.LoadLocation("America/New_York"); err == nil {
		ny.Location = loc
	}
	target := manifest.MustParseVersion("2.0.0")
	f.agents = make([]fleetAgent, n)
	period := time.Duration(f.schedule.Days)*24*time.Hour + f.schedule.JitterMax
	for i := range f.agents {
		a := &f.agents[i]
		a.id = fmt.Sprintf("i-%017x", rng.Uint64()>>4)
		a.etag, a.m, a.current = `"v0"`, old, manifest.MustParseVersion("1.0.5")
		switch i % 4 {
		case 2:
			a.window = utc
		case 3:
			a.window = ny
		}
		pos := manifest.Position(a.id, target)
		a.wave = slices.IndexFunc(fleetWaves, func(w manifest.Wave) bool { return pos < w.Percent })
		heap.Push(&f.queue, fleetEvent{start.Add(time.Duration(rng.Int64N(int64(period)))), int32(i)})
	}
	end, next := publish.Add(fleetEnd), 1
	for len(f.queue) > 0 {
		e := heap.Pop(&f.queue).(fleetEvent)
		if !e.at.Before(end) {
			break
		}
		f.now = e.at
		for next < len(versions) && !versions[next].at.After(f.now) {
			f.src.body, f.src.etag = versions[next].body, fmt.Sprintf(`"v%d"`, next)
			next++
		}
		f.check(int(e.agent))
	}
	return f.result(publish, n)
}

// fleetReport is what a simulation measured.
type fleetReport struct {
	agents                      int
	requests, notModified, body int64
	fullBody                    int64
	peakRPS, meanRPS            float64
	unjitteredPeak              int
	waveSize                    []int
	waveEarly                   []int           // updated before the wave opened
	waveFull                    []time.Duration // from opening to the wave's last update, pause excluded
	maxDev                      float64         // percentage points, once settled
	pauseToLast                 time.Duration   // from the pause to the last update before the resume; 0: none
	pausedUpdates               int
	hashWorst                   float64 // worst of 100 buckets against the expected share, in %
	randWorst                   float64 // the same for as many uniform random numbers: the baseline
	hourly                      []float64
	perWave                     [][]float64 // % of each wave updated every 12 h from its opening, pause excluded
}

// fleetSettle is how long after a wave opens every one of its agents has
// had its chance: a check period with its jitter (to see the manifest),
// then a day for the window to come round, plus its jitter spread.
const fleetSettle = 24*time.Hour + DefaultJitterMax + 24*time.Hour + 4*time.Hour

func (f *fleet) result(publish time.Time, n int) fleetReport {
	r := fleetReport{agents: n, requests: f.src.requests, notModified: f.src.notModified, body: f.src.bytes, fullBody: f.src.fullBytes,
		waveSize: make([]int, len(fleetWaves)), waveEarly: make([]int, len(fleetWaves)), waveFull: make([]time.Duration, len(fleetWaves))}
	for _, c := range f.src.perSecond {
		r.peakRPS = max(r.peakRPS, float64(c))
	}
	r.meanRPS = float64(r.requests) / float64(fleetSeconds)
	for _, c := range f.waiting {
		r.unjitteredPeak = max(r.unjitteredPeak, c)
	}
	pause, resume := publish.Add(fleetPause), publish.Add(fleetResume)
	buckets := make([]int, 100)
	target := manifest.MustParseVersion("2.0.0")
	updated := make([][]time.Time, len(fleetWaves))
	for i := range f.agents {
		a := &f.agents[i]
		buckets[int(manifest.Position(a.id, target))]++
		r.waveSize[a.wave]++
		if a.updatedAt.IsZero() {
			continue
		}
		updated[a.wave] = append(updated[a.wave], a.updatedAt)
		opens := publish.Add(time.Duration(fleetWaves[a.wave].AfterHours * float64(time.Hour)))
		if a.updatedAt.Before(opens) {
			r.waveEarly[a.wave]++
		}
		if !a.updatedAt.Before(pause) && a.updatedAt.Before(resume) {
			r.pausedUpdates++
			r.pauseToLast = max(r.pauseToLast, a.updatedAt.Sub(pause))
		}
	}
	r.hashWorst = worstBucket(buckets, n)
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	clear(buckets)
	for range n {
		buckets[rng.IntN(100)]++
	}
	r.randWorst = worstBucket(buckets, n)
	for w := range fleetWaves {
		slices.SortFunc(updated[w], func(a, b time.Time) int { return a.Compare(b) })
		opens := publish.Add(time.Duration(fleetWaves[w].AfterHours * float64(time.Hour)))
		size := max(r.waveSize[w], 1)
		if u := updated[w]; len(u) > 0 {
			r.waveFull[w] = u[len(u)-1].Sub(opens) - overlap(opens, u[len(u)-1], pause, resume)
		}
		// Settled: fleetSettle after opening, not counting the pause.
		settled := opens.Add(fleetSettle)
		if settled.After(pause) {
			settled = settled.Add(resume.Sub(pause))
		}
		done, _ := slices.BinarySearchFunc(updated[w], settled, func(a, b time.Time) int { return a.Compare(b) })
		var curve []float64
		for h := time.Duration(0); h <= 96*time.Hour; h += 12 * time.Hour {
			at := opens.Add(h)
			if at.After(pause) { // hours of rollout, not of the clock
				at = at.Add(resume.Sub(pause))
			}
			k, _ := slices.BinarySearchFunc(updated[w], at, func(a, b time.Time) int { return a.Compare(b) })
			curve = append(curve, 100*float64(k)/float64(size))
		}
		r.perWave = append(r.perWave, curve)
		dev := max(100*float64(size-done)/float64(size), 100*float64(r.waveEarly[w])/float64(size))
		r.maxDev = max(r.maxDev, dev)
	}
	var all []time.Time
	for _, u := range updated {
		all = append(all, u...)
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	for h := time.Duration(0); h <= fleetEnd; h += 6 * time.Hour {
		k, _ := slices.BinarySearchFunc(all, publish.Add(h), func(a, b time.Time) int { return a.Compare(b) })
		r.hourly = append(r.hourly, 100*float64(k)/float64(n))
	}
	return r
}

// worstBucket is the largest deviation of a bucket from n/100, in %.
func worstBucket(buckets []int, n int) float64 {
	want, worst := float64(n)/100, 0.0
	for _, c := range buckets {
		worst = max(worst, math.Abs(float64(c)-want)/want*100)
	}
	return worst
}

// overlap is how much of [a, b) falls in [p, q).
func overlap(a, b, p, q time.Time) time.Duration {
	lo, hi := a, b
	if p.After(lo) {
		lo = p
	}
	if q.Before(hi) {
		hi = q
	}
	return max(hi.Sub(lo), 0)
}

// planPercent is the share of the fleet the rollout plan has opened at h.
func planPercent(h time.Duration) float64 {
	p := 0.0
	for _, w := range fleetWaves {
		if h >= time.Duration(w.AfterHours*float64(time.Hour)) {
			p = w.Percent
		}
	}
	return p
}

func (r fleetReport) report(b *testing.B) {
	days := float64(fleetWarmup+fleetEnd) / float64(24*time.Hour)
	b.ReportMetric(r.peakRPS, "peak-req/s")
	b.ReportMetric(r.meanRPS, "mean-req/s")
	b.ReportMetric(float64(r.unjitteredPeak), "baseline-unjittered-peak-req/s")
	b.ReportMetric(100*float64(r.notModified)/float64(r.requests), "304-%")
	b.ReportMetric(float64(r.body)/float64(r.agents)/days, "B/agent/day")
	b.ReportMetric(float64(r.fullBody)/float64(r.agents)/days, "baseline-no-etag-B/agent/day")
	b.ReportMetric(r.maxDev, "max-dev-%")
	early := 0
	for _, e := range r.waveEarly {
		early += e
	}
	b.ReportMetric(float64(early), "early-updates")
	b.ReportMetric(float64(r.pausedUpdates), "updates-in-pause")
	b.ReportMetric(r.pauseToLast.Seconds(), "pause-to-last-update-s")
	b.ReportMetric(r.hashWorst, "hash-worst-bucket-dev-%")
	b.ReportMetric(r.randWorst, "baseline-random-worst-bucket-dev-%")
	for w := range fleetWaves {
		b.ReportMetric(r.waveFull[w].Hours(), fmt.Sprintf("wave%d-open-to-full-h", w+1))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d agents; waves %v agents; hour: updated %% (plan %%):", r.agents, r.waveSize)
	for i, p := range r.hourly {
		h := time.Duration(i) * 6 * time.Hour
		fmt.Fprintf(&sb, " %.0fh %.2f (%g)", h.Hours(), p, planPercent(h))
	}
	for w, c := range r.perWave {
		fmt.Fprintf(&sb, "\nwave %d (%g%% at %gh), %% of it updated from its opening (pause excluded):", w+1, fleetWaves[w].Percent, fleetWaves[w].AfterHours)
		for i, p := range c {
			fmt.Fprintf(&sb, " +%dh %.1f", 12*i, p)
		}
	}
	b.Log(sb.String())
}
