package httprange

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 0-9/10", 0, 9, 10, true},
		{"bytes 5-9/*", 5, 9, -1, true},
		{"bytes 9-5/10", 0, 0, 0, false},
		{"bytes 0-10/10", 0, 0, 0, false},
		{"bytes -1-2/3", 0, 0, 0, false},
		{"bytes 1-2", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
	} {
		start, end, size, ok := Parse(tc.in)
		if ok != tc.ok || ok && (start != tc.start || end != tc.end || size != tc.size) {
			t.Errorf("Parse(%q) = %d, %d, %d, %v", tc.in, start, end, size, ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-9/*", "bytes 9-5/10", "bytes 0-10/10", "bytes -1-2/3", "bytes 1-2", "items 0-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, size, ok := Parse(s)
		if ok && (start < 0 || end < start || (size >= 0 && end >= size)) {
			t.Errorf("%q: accepted %d-%d/%d", s, start, end, size)
		}
	})
}
