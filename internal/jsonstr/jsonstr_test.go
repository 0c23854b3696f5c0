package jsonstr_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ssmkit/ssmkit/internal/jsonstr"
)

func ExampleAppend() {
	b := []byte(`{"line":`)
	b = jsonstr.Append(b, "a \"quoted\"\tline\n")
	b = append(b, '}')
	fmt.Println(string(b))
	// Output: {"line":"a \"quoted\"\tline\n"}
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{`"\`, `"\"\\"`},
		{"\r\n\t", `"\r\n\t"`},
		{"é€😀", `"é€😀"`},
		{"a\xffb", `"a\ufffdb"`},
		{"<&>", `"<&>"`},
	} {
		if got := string(jsonstr.Append(nil, tc.in)); got != tc.want {
			t.Errorf("Append(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendMap(t *testing.T) {
	if got := string(jsonstr.AppendMap(nil, nil)); got != "{}" {
		t.Errorf("AppendMap(nil) = %s", got)
	}
	m := map[string]string{"a": "1", "b\n": "\"2\"", "\xff": ""}
	var back map[string]string
	out := jsonstr.AppendMap(nil, m)
	if err := json.Unmarshal(out, &back); err != nil || len(back) != 3 || back["a"] != "1" || back["b\n"] != "\"2\"" || back["\ufffd"] != "" {
		t.Errorf("AppendMap(%q) = %s, reads back as %q, %v", m, out, back, err)
	}
}

// FuzzAppend checks that the output is one valid JSON string that
// encoding/json reads back as s, with invalid UTF-8 replaced.
func FuzzAppend(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\"\\\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		out := jsonstr.Append([]byte("x"), s)
		if out[0] != 'x' {
			t.Fatalf("Append overwrote the buffer: %q", out)
		}
		var back string
		if err := json.Unmarshal(out[1:], &back); err != nil {
			t.Fatalf("Append(%q) = %s, not a JSON string: %v", s, out[1:], err)
		}
		// strings.Map turns each invalid byte into U+FFFD, as Append does.
		if want := strings.Map(func(r rune) rune { return r }, s); back != want {
			t.Fatalf("Append(%q) reads back as %q", s, back)
		}
	})
}
