package supervisor

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzStateFile: any bytes in a state file are refused with an error that
// names the file, or decoded into a state for the right worker with a valid
// mark; never a panic.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`{"version":2,"name":"w","path":"/bin/w","process":{"pid":42,"start_ticks":7,"boot_id":"b"},"mark":"00112233445566778899aabbccddeeff"}`))
	f.Add([]byte(`{"version":2,"name":"w","path":"/bin/w","process":{"pid":0},"mark":"00112233445566778899aabbccddeeff","secret":"x"}`))
	f.Add([]byte(`{"version":1,"name":"w","path":"/bin/w","process":{"pid":42,"start_ticks":7,"boot_id":"b"}}`))
	f.Add([]byte(`{"version":3,"name":"w"}`))
	f.Add([]byte(`{"version":2,"name":"w","mark":"zz"}`))
	f.Add([]byte(`{"version":2,"name":"w","process":{"pid":-5}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState("/state/w.json", "w", b)
		if err != nil {
			if !strings.Contains(err.Error(), "/state/w.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if st.Name != "w" || (st.Version != 1 && st.Version != stateVersion) || st.Process.PID < 0 || (st.Mark != "" && !validMark(st.Mark)) {
			t.Fatalf("accepted %+v", st)
		}
	})
}

// FuzzMarkIn: the mark found in an environment block is a valid mark that
// the block holds as MarkEnv's value, or "".
func FuzzMarkIn(f *testing.F) {
	f.Add([]byte("A=1\x00" + MarkEnv + "=00112233445566778899aabbccddeeff\x00B=2\x00"))
	f.Add([]byte(MarkEnv + "=short\x00"))
	f.Add([]byte(MarkEnv))
	f.Add([]byte("\x00\x00" + MarkEnv + "=\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := markIn(b)
		if m == "" {
			return
		}
		if !validMark(m) || !bytes.Contains(b, []byte(MarkEnv+"="+m)) {
			t.Fatalf("markIn(%q) = %q", b, m)
		}
	})
}

// FuzzJournalStream: JOURNAL_STREAM parses only as two decimal numbers.
func FuzzJournalStream(f *testing.F) {
	for _, s := range []string{"8:12345", "", ":", "8:", "a:b", "1:2:3", "18446744073709551616:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dev, ino, ok := parseJournalStream(s)
		if !ok {
			return
		}
		d, i, _ := strings.Cut(s, ":")
		if strings.Trim(d, "0123456789") != "" || strings.Trim(i, "0123456789") != "" || d == "" || i == "" {
			t.Fatalf("parseJournalStream(%q) = %d, %d", s, dev, ino)
		}
	})
}
