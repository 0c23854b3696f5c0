package manifest

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	valid := []string{"0", "1", "3.0.151.0", "01.002", "0.0.0.0", "1.2.3.4.5.6.7",
		"99999999999999999999999999999999.1"}
	for _, s := range valid {
		v, err := ParseVersion(s)
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", s, err)
			continue
		}
		if v.String() != s {
			t.Errorf("ParseVersion(%q).String() = %q, want the input unchanged", s, v.String())
		}
	}
	invalid := map[string]string{
		"":         "empty",
		".":        "empty component at offset 0",
		"1.":       "empty component at offset 2",
		".1":       "empty component at offset 0",
		"1..2":     "empty component at offset 2",
		"1.x.0":    `character 'x' at offset 2`,
		"v1.0":     `character 'v' at offset 0`,
		"1.0-beta": `character '-' at offset 3`,
		"1,0":      `character ',' at offset 1`,
		" 1.0":     `character ' ' at offset 0`,
		"1.0\n":    `character '\n' at offset 3`,
		"１.0":      `character '１' at offset 0`, // fullwidth digit: not ASCII
	}
	for s, why := range invalid {
		_, err := ParseVersion(s)
		if !errors.Is(err, ErrInvalidVersion) {
			t.Errorf("ParseVersion(%q) error = %v, want ErrInvalidVersion", s, err)
			continue
		}
		if !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "invalid version") {
			t.Errorf("ParseVersion(%q) error = %q, want it to say %q", s, err, why)
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"3.0.151.0", "3.0.1000.0", -1}, // numeric, not lexical
		{"1.01", "1.1", 0},              // leading zeros ignored
		{"0001.0", "1.00", 0},
		{"0", "00", 0},
		{"1.1", "1.1.1", -1}, // a proper prefix is smaller
		{"1.0", "1.0.0", -1}, // trailing zeros are not normalised
		{"2", "1.9.9.9", +1},
		{"10", "9", +1},
		{"3.16.930", "100.1.2", -1},
		{"999.0.0", "100.1.2", +1},
		{"18446744073709551616", "18446744073709551615", +1}, // past uint64
		{"1.99999999999999999999999999999", "1.100000000000000000000000000000", -1},
		{"0.0.1", "0.0.01", 0},
		{"1.10", "1.9", +1},
	}
	for _, tt := range tests {
		a, b := MustParseVersion(tt.a), MustParseVersion(tt.b)
		if got := Compare(a, b); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Compare(b, a); got != -tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
		if got := a.Equal(b); got != (tt.want == 0) {
			t.Errorf("%s.Equal(%s) = %v", tt.a, tt.b, got)
		}
		if got := a.key() == b.key(); got != (tt.want == 0) {
			t.Errorf("key(%s) = %q, key(%s) = %q: equal keys %v, want %v", tt.a, a.key(), tt.b, b.key(), got, tt.want == 0)
		}
	}
}

func TestCompareZero(t *testing.T) {
	var zero Version
	if !zero.IsZero() || zero.String() != "" {
		t.Fatalf("zero Version: IsZero %v, String %q", zero.IsZero(), zero.String())
	}
	if Compare(zero, zero) != 0 || Compare(zero, MustParseVersion("0")) != -1 || Compare(MustParseVersion("0"), zero) != 1 {
		t.Error("the zero Version must sort before every valid version")
	}
}

// refCompare is an independent model of the ordering: components as big
// integers, then the shorter list first.
func refCompare(a, b string) int {
	x, y := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(x) && i < len(y); i++ {
		var p, q big.Int
		p.SetString(x[i], 10)
		q.SetString(y[i], 10)
		if c := p.Cmp(&q); c != 0 {
			return c
		}
	}
	switch {
	case len(x) < len(y):
		return -1
	case len(x) > len(y):
		return +1
	}
	return 0
}

// randomVersion draws from a small alphabet so that equal, prefix and
// leading-zero cases are frequent.
func randomVersion(r *rand.Rand) string {
	comps := []string{"0", "00", "1", "01", "2", "9", "10", "010", "99999999999999999999", "100000000000000000000"}
	n := 1 + r.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = comps[r.IntN(len(comps))]
	}
	return strings.Join(parts, ".")
}

// checkOrder checks the total-order laws and the model on three versions.
func checkOrder(t *testing.T, a, b, c Version) {
	t.Helper()
	vs := []Version{a, b, c}
	for _, x := range vs {
		if Compare(x, x) != 0 {
			t.Fatalf("Compare(%s, %s) != 0: not reflexive", x, x)
		}
		for _, y := range vs {
			cxy, cyx := Compare(x, y), Compare(y, x)
			if cxy != -cyx {
				t.Fatalf("Compare(%s, %s) = %d but Compare(%s, %s) = %d: not antisymmetric", x, y, cxy, y, x, cyx)
			}
			if want := refCompare(x.String(), y.String()); cxy != want {
				t.Fatalf("Compare(%s, %s) = %d, model says %d", x, y, cxy, want)
			}
			if (cxy == 0) != (x.key() == y.key()) {
				t.Fatalf("Compare(%s, %s) = %d but keys %q, %q", x, y, cxy, x.key(), y.key())
			}
			for _, z := range vs {
				if cxy <= 0 && Compare(y, z) <= 0 && Compare(x, z) > 0 {
					t.Fatalf("%s <= %s <= %s but %s > %s: not transitive", x, y, z, x, z)
				}
			}
		}
	}
}

func TestCompareIsTotalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		checkOrder(t,
			MustParseVersion(randomVersion(r)),
			MustParseVersion(randomVersion(r)),
			MustParseVersion(randomVersion(r)))
	}
}

func TestVersionText(t *testing.T) {
	var v Version
	if err := v.UnmarshalText([]byte("3.0.0151.0")); err != nil {
		t.Fatal(err)
	}
	b, err := v.MarshalText()
	if err != nil || string(b) != "3.0.0151.0" {
		t.Fatalf("MarshalText = %q, %v; want the text unchanged", b, err)
	}
	if err := v.UnmarshalText([]byte("3.x")); !errors.Is(err, ErrInvalidVersion) {
		t.Fatalf("UnmarshalText(3.x) = %v, want ErrInvalidVersion", err)
	}
	if v.String() != "3.0.0151.0" {
		t.Errorf("a failed UnmarshalText changed the version to %q", v)
	}
}

func TestMustParseVersionPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParseVersion(\"x\") did not panic")
		}
	}()
	MustParseVersion("x")
}
