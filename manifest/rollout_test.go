package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var rolloutStart = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

// rolloutDoc is a manifest where 1.0 is Deprecated and 2.0 is Active with
// the given Rollout object.
func rolloutDoc(rollout string) string {
	return doc(`{"Version":"1.0","CheckSum":"` + sumA + `","Status":"Deprecated"},
		{"Version":"2.0","CheckSum":"` + sumB + `","Status":"Active","Rollout":` + rollout + `}`)
}

const plan = `{"Start":"2027-03-01T12:00:00Z",
	"Waves":[{"Percent":1,"AfterHours":0},{"Percent":10,"AfterHours":24},{"Percent":100,"AfterHours":72}],
	"Groups":[{"Name":"canary","AfterHours":0},{"Name":"prod","AfterHours":48}],"Paused":false}`

func TestParseRollout(t *testing.T) {
	m := mustParse(t, rolloutDoc(plan))
	r := mustFile(t, m, "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz").Releases[1].Rollout
	if r == nil {
		t.Fatal("Rollout not parsed")
	}
	want := Rollout{Start: rolloutStart,
		Waves:  []Wave{{1, 0}, {10, 24}, {100, 72}},
		Groups: []Group{{"canary", 0}, {"prod", 48}}}
	if got, _ := json.Marshal(r); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("Rollout = %s, want %s", got, must(json.Marshal(want)))
	}
	if m.Packages[0].Files[0].Releases[0].Rollout != nil {
		t.Error("a release without Rollout got one")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRolloutIgnoredByV3Rules checks that a manifest with rollout fields is
// still a manifest under the rules SSM's agent reads it by: encoding/json
// into its own structures, unknown fields ignored.
func TestRolloutIgnoredByV3Rules(t *testing.T) {
	var v3 struct {
		SchemaVersion string
		URIFormat     string
		Packages      []struct {
			Name  string
			Files []struct {
				Name              string
				AvailableVersions []struct{ Version, Checksum, Status string }
			}
		}
	}
	in := `{"ManifestVersion":3,"Expires":"2027-04-01T00:00:00Z",` + strings.TrimPrefix(rolloutDoc(plan), "{")
	if err := json.Unmarshal([]byte(in), &v3); err != nil {
		t.Fatalf("v3 decoding: %v", err)
	}
	got := v3.Packages[0].Files[0].AvailableVersions
	if len(got) != 2 || got[1].Version != "2.0" || got[1].Status != "Active" || !strings.EqualFold(got[1].Checksum, sumB) {
		t.Errorf("v3 decoding saw %+v", got)
	}
	m := mustParse(t, in)
	if m.ManifestVersion != 3 || !m.Expires.Equal(time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ManifestVersion, Expires = %d, %v", m.ManifestVersion, m.Expires)
	}
}

func TestParseRolloutErrors(t *testing.T) {
	const at = "Packages[0].Files[0].AvailableVersions[1].Rollout."
	for _, tc := range []struct{ name, rollout, path, msg string }{
		{"percent over 100", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":101,"AfterHours":0}]}`, "Waves[0].Percent", "outside (0, 100]"},
		{"percent zero", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":0,"AfterHours":0}]}`, "Waves[0].Percent", "outside (0, 100]"},
		{"percent negative", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":-5,"AfterHours":0}]}`, "Waves[0].Percent", "outside"},
		{"overlapping waves", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":10,"AfterHours":0},{"Percent":10,"AfterHours":5}]}`, "Waves[1].Percent", "overlap"},
		{"shrinking waves", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":50,"AfterHours":0},{"Percent":10,"AfterHours":5}]}`, "Waves[1].Percent", "shrink"},
		{"wave earlier than the last", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":5,"AfterHours":24},{"Percent":10,"AfterHours":5}]}`, "Waves[1].AfterHours", "in order"},
		{"negative hours", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":5,"AfterHours":-1}]}`, "Waves[0].AfterHours", "outside"},
		{"no start", `{"Waves":[{"Percent":100,"AfterHours":0}]}`, "Start", "missing"},
		{"bad start", `{"Start":"tomorrow","Waves":[{"Percent":100,"AfterHours":0}]}`, "Start", "RFC 3339"},
		{"percent as text", `{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":"10","AfterHours":0}]}`, "Waves[0].Percent", "want number"},
		{"duplicate group", `{"Start":"2027-03-01T12:00:00Z","Groups":[{"Name":"prod","AfterHours":0},{"Name":"PROD","AfterHours":1}]}`, "Groups[1].Name", "duplicate"},
		{"bad group name", `{"Start":"2027-03-01T12:00:00Z","Groups":[{"Name":"../x","AfterHours":0}]}`, "Groups[0].Name", "group name"},
		{"empty group name", `{"Start":"2027-03-01T12:00:00Z","Groups":[{"Name":"","AfterHours":0}]}`, "Groups[0].Name", "group name"},
		{"groups out of order", `{"Start":"2027-03-01T12:00:00Z","Groups":[{"Name":"a","AfterHours":9},{"Name":"b","AfterHours":1}]}`, "Groups[1].AfterHours", "in order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(rolloutDoc(tc.rollout)))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error %v, want a *ParseError", err)
			}
			if pe.Path != at+tc.path || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q (path %q), want path %q and %q", err, pe.Path, at+tc.path, tc.msg)
			}
		})
	}
}

func TestPositionStableAndReshuffled(t *testing.T) {
	v1, v2 := MustParseVersion("3.1.0.0"), MustParseVersion("3.2.0.0")
	same, lowBoth := 0, 0
	const n = 10000
	for i := range n {
		id := fmt.Sprintf("i-%017x", i)
		p := Position(id, v1)
		if p != Position(id, v1) || p != Position(id, MustParseVersion("3.01.0.0")) {
			t.Fatalf("Position(%s) differs between calls or equal versions", id)
		}
		if p < 0 || p >= 100 || math.Round(p*100)/100 != p {
			t.Fatalf("Position(%s) = %v, want [0, 100) in steps of 0.01", id, p)
		}
		q := Position(id, v2)
		if p == q {
			same++
		}
		if p < 10 && q < 10 {
			lowBoth++
		}
	}
	// Independent across releases: the first 10% of one release holds about
	// 10% of the next one's first 10%.
	if lowBoth < n/100/2 || lowBoth > n/100*2 {
		t.Errorf("%d agents are in the first 10%% of both releases; independent positions give about %d", lowBoth, n/100)
	}
	if same > n/100 {
		t.Errorf("%d of %d agents keep their exact position across releases", same, n)
	}
}

// TestPositionUniform: over 100,000 instance ids, every one of 100 buckets
// of Position holds its expected share within 15% (5 standard deviations).
func TestPositionUniform(t *testing.T) {
	const n, buckets = 100000, 100
	var count [buckets]int
	v := MustParseVersion("3.2.0.0")
	for i := range n {
		count[int(Position(fmt.Sprintf("i-%017x", i), v))]++
	}
	want := float64(n) / buckets
	worst := 0.0
	for _, c := range count {
		worst = max(worst, abs(float64(c)-want)/want)
	}
	if worst > 0.15 {
		t.Errorf("worst bucket is %.1f%% off its expected share; the bound is 15%%", worst*100)
	}
	t.Logf("worst of %d buckets: %.2f%% off the expected share", buckets, worst*100)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// idAt returns an instance id whose position in v's rollout is in [lo, hi).
func idAt(t *testing.T, v Version, lo, hi float64) string {
	t.Helper()
	for i := range 100000 {
		id := fmt.Sprintf("i-%017x", i)
		if p := Position(id, v); p >= lo && p < hi {
			return id
		}
	}
	t.Fatalf("no instance id at position [%v, %v)", lo, hi)
	return ""
}

func TestRolloutDecide(t *testing.T) {
	m := mustParse(t, rolloutDoc(plan))
	v := MustParseVersion("2.0")
	first, second, rest := idAt(t, v, 0, 1), idAt(t, v, 1, 10), idAt(t, v, 50, 60)
	h := func(n int) time.Time { return rolloutStart.Add(time.Duration(n) * time.Hour) }
	for _, tc := range []struct {
		name, id, group string
		at              time.Time
		open            bool
		opensAt         time.Time
		wave            int
	}{
		{"first wave at start", first, "", h(0), true, h(0), 0},
		{"first wave before start", first, "", h(-1), false, h(0), 0},
		{"second wave early", second, "", h(23), false, h(24), 1},
		{"second wave open", second, "", h(24), true, h(24), 1},
		{"last wave early", rest, "", h(71), false, h(72), 2},
		{"last wave open", rest, "", h(72), true, h(72), 2},
		{"no instance id goes last", "", "", h(71), false, h(72), 2},
		{"canary group opens at once", rest, "canary", h(0), true, h(0), -1},
		{"group matched ignoring case", rest, "PROD", h(47), false, h(48), -1},
		{"unlisted group uses waves", first, "qa", h(0), true, h(0), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := m.Decide(Query{Package: "amazon-ssm-agent", Platform: Platform{"linux", "amd64"},
				Current: MustParseVersion("1.0"), InstanceID: tc.id, Group: tc.group, At: tc.at})
			if err != nil {
				t.Fatal(err)
			}
			s := d.Rollout
			if s == nil || d.Target == nil || d.Target.Version.String() != "2.0" {
				t.Fatalf("Decision %+v has no rollout or target", d)
			}
			if s.Open != tc.open || !s.OpensAt.Equal(tc.opensAt) || s.Wave != tc.wave {
				t.Errorf("open %v opensAt %v wave %d, want %v %v %d (%s)", s.Open, s.OpensAt, s.Wave, tc.open, tc.opensAt, tc.wave, s.Reason)
			}
			if want := map[bool]Action{true: ActionUpdate, false: ActionNone}[tc.open]; d.Action != want {
				t.Errorf("action %s, want %s (%s)", d.Action, want, d.Reason)
			}
		})
	}
}

func TestRolloutPausedAndResumed(t *testing.T) {
	m := mustParse(t, rolloutDoc(plan))
	v := MustParseVersion("2.0")
	q := Query{Package: "amazon-ssm-agent", Platform: Platform{"linux", "amd64"}, Current: MustParseVersion("1.0"),
		InstanceID: idAt(t, v, 0, 1), At: rolloutStart.Add(time.Hour)}
	if n, err := m.SetPaused("amazon-ssm-agent", v, true); n != 1 || err != nil {
		t.Fatalf("SetPaused = %d, %v", n, err)
	}
	d, err := m.Decide(q)
	if err != nil || d.Action != ActionNone || !d.Rollout.Paused || !d.Rollout.Open {
		t.Fatalf("paused: %+v, %v; want no update, open and paused", d, err)
	}
	if !strings.Contains(d.Reason, "paused") {
		t.Errorf("reason %q does not say paused", d.Reason)
	}
	if n, _ := m.SetPaused("amazon-ssm-agent", v, false); n != 1 {
		t.Fatalf("resume changed %d releases", n)
	}
	if d, _ = m.Decide(q); d.Action != ActionUpdate {
		t.Errorf("resumed: %s (%s)", d.Action, d.Reason)
	}
}

func TestRolloutGroupsOnly(t *testing.T) {
	m := mustParse(t, rolloutDoc(`{"Start":"2027-03-01T12:00:00Z","Groups":[{"Name":"canary","AfterHours":0},{"Name":"prod","AfterHours":48}]}`))
	d, err := m.Decide(Query{Package: "amazon-ssm-agent", Platform: Platform{"linux", "amd64"}, Current: MustParseVersion("1.0"),
		InstanceID: "i-1", At: rolloutStart.Add(47 * time.Hour)})
	if err != nil || d.Action != ActionNone || !d.Rollout.OpensAt.Equal(rolloutStart.Add(48*time.Hour)) {
		t.Fatalf("ungrouped agent: %+v, %v; want it to follow the last group", d.Rollout, err)
	}
}

func TestRolloutBeyondLastWave(t *testing.T) {
	m := mustParse(t, rolloutDoc(`{"Start":"2027-03-01T12:00:00Z","Waves":[{"Percent":5,"AfterHours":0}]}`))
	v := MustParseVersion("2.0")
	d, err := m.Decide(Query{Package: "amazon-ssm-agent", Platform: Platform{"linux", "amd64"}, Current: MustParseVersion("1.0"),
		InstanceID: idAt(t, v, 50, 100), At: rolloutStart.AddDate(1, 0, 0)})
	if err != nil || d.Action != ActionNone || d.Rollout.Open || !d.Rollout.OpensAt.IsZero() || d.Rollout.Wave != -1 {
		t.Fatalf("%+v, %v; want never open", d.Rollout, err)
	}
}

func TestRolloutStartFarAhead(t *testing.T) {
	m := mustParse(t, rolloutDoc(plan))
	_, err := m.Decide(Query{Package: "amazon-ssm-agent", Platform: Platform{"linux", "amd64"}, Current: MustParseVersion("1.0"),
		InstanceID: "i-1", At: rolloutStart.Add(-MaxRolloutLead - time.Hour)})
	if !errors.Is(err, ErrInvalidRollout) || !strings.Contains(err.Error(), "Rollout.Start") {
		t.Fatalf("Decide = %v, want ErrInvalidRollout naming Rollout.Start", err)
	}
	r := &Rollout{Start: rolloutStart}
	if err := r.Check(rolloutStart.Add(-MaxRolloutLead + time.Hour)); err != nil {
		t.Errorf("Check within the lead: %v", err)
	}
}

func TestEditAndMarshal(t *testing.T) {
	m := mustParse(t, rolloutDoc(plan))
	m.ManifestVersion, m.Expires = 8, rolloutStart.AddDate(0, 1, 0)
	v3 := MustParseVersion("3.0")
	r := Release{Version: v3, Checksum: sumA, Rollout: &Rollout{Start: rolloutStart, Waves: []Wave{{100, 0}}}}
	if err := m.AddRelease("amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz", r); err != nil {
		t.Fatal(err)
	}
	if err := m.AddRelease("amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz", r); err == nil {
		t.Error("a duplicate version was added")
	}
	if err := m.AddRelease("amazon-ssm-agent", "amazon-ssm-agent-linux-arm64.tar.gz", r); err != nil {
		t.Fatal(err)
	}
	if n := m.DeprecateBefore("amazon-ssm-agent", v3); n != 1 {
		t.Errorf("DeprecateBefore changed %d, want 1 (2.0)", n)
	}
	f := mustFile(t, m, "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz")
	if got, _ := f.LatestActive(); got.Version.String() != "3.0" {
		t.Errorf("LatestActive after the edit = %s, want 3.0", got.Version)
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(out))
	again, _ := back.Marshal()
	if string(again) != string(out) {
		t.Errorf("Marshal does not round-trip:\n%s\n---\n%s", out, again)
	}
	if back.ManifestVersion != 8 || !back.Expires.Equal(m.Expires) || len(back.Packages[0].Files) != 2 {
		t.Errorf("read back: version %d expires %v files %d", back.ManifestVersion, back.Expires, len(back.Packages[0].Files))
	}
	for _, bad := range []Release{
		{Version: MustParseVersion("4.0"), Checksum: "x"},
		{Version: MustParseVersion("4.0"), Checksum: sumA, Status: "Gone"},
		{Version: MustParseVersion("4.0"), Checksum: sumA, Rollout: &Rollout{Start: rolloutStart, Waves: []Wave{{200, 0}}}},
		{Checksum: sumA},
	} {
		if err := m.AddRelease("amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz", bad); err == nil {
			t.Errorf("AddRelease(%+v) accepted", bad)
		}
	}
}

func TestParseStages(t *testing.T) {
	w, err := ParseWaves("1@0, 10@24,100@72")
	if err != nil || len(w) != 3 || w[2] != (Wave{100, 72}) {
		t.Fatalf("ParseWaves = %v, %v", w, err)
	}
	for _, bad := range []string{"10@0,5@1", "150@0", "x@1", "10", "10@y", "10abc@1"} {
		if _, err := ParseWaves(bad); err == nil {
			t.Errorf("ParseWaves(%q) accepted", bad)
		}
	}
	g, err := ParseGroups("canary@0,prod@48")
	if err != nil || len(g) != 2 || g[1] != (Group{"prod", 48}) {
		t.Fatalf("ParseGroups = %v, %v", g, err)
	}
	if _, err := ParseGroups("a@0,a@1"); err == nil {
		t.Error("duplicate groups accepted")
	}
}

func TestRolloutTimesReadBack(t *testing.T) {
	for _, start := range []string{"0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59Z"} {
		_, err := Parse(strings.NewReader(rolloutDoc(`{"Start":"` + start + `","Waves":[{"Percent":100,"AfterHours":0}]}`)))
		if err == nil || !strings.Contains(err.Error(), "Rollout.Start") || !strings.Contains(err.Error(), "1970 to 9999") {
			t.Errorf("Start %s: %v", start, err)
		}
	}
	r := Release{Version: MustParseVersion("3.0"), Checksum: sumA, Rollout: &Rollout{Start: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), Waves: []Wave{{100, 0}}}}
	if err := mustParse(t, rolloutDoc(plan)).AddRelease("amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz", r); err == nil {
		t.Error("AddRelease took a Start that Parse cannot read back")
	}
	// A Start with a fraction of a second is written back as it is.
	m := mustParse(t, rolloutDoc(`{"Start":"2027-03-01T12:00:00.123+01:00","Waves":[{"Percent":100,"AfterHours":0}]}`))
	out, _ := m.Marshal()
	back := mustParse(t, string(out))
	a := mustFile(t, m, "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz").Releases[1].Rollout.Start
	b := mustFile(t, back, "amazon-ssm-agent", "amazon-ssm-agent-linux-amd64.tar.gz").Releases[1].Rollout.Start
	if !a.Equal(b) {
		t.Errorf("Start %v read back as %v", a, b)
	}
}
