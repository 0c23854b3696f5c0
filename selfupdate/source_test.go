package selfupdate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPSourceRefusesPlainHTTPElsewhere(t *testing.T) {
	for _, u := range []string{"http://example.com/m.json", "http://10.0.0.1/m.json", "ftp://127.0.0.1/x"} {
		if _, err := (&HTTPSource{}).Open(context.Background(), u, Request{}); err == nil {
			t.Errorf("Open(%s) succeeded", u)
		}
	}
	if _, err := (Sources{}).Open(context.Background(), "gopher://x/y", Request{}); err == nil || !strings.Contains(err.Error(), `no source for scheme "gopher"`) {
		t.Errorf("unknown scheme: %v", err)
	}
}

func TestHTTPSourceETagAndRange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/m.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "m.json", fixedTime, strings.NewReader("0123456789"))
	}))
	defer srv.Close()
	src := &HTTPSource{}
	obj, err := src.Open(context.Background(), srv.URL+"/m.json", Request{})
	if err != nil || obj.ETag != `"v1"` || obj.Size != 10 {
		t.Fatalf("Open = %+v, %v", obj, err)
	}
	obj.Body.Close()
	if _, err := src.Open(context.Background(), srv.URL+"/m.json", Request{ETag: `"v1"`}); !errors.Is(err, ErrNotModified) {
		t.Errorf("If-None-Match: %v", err)
	}
	obj, err = src.Open(context.Background(), srv.URL+"/m.json", Request{Offset: 4})
	if err != nil || obj.Offset != 4 || obj.Size != 10 {
		t.Fatalf("range: %+v, %v", obj, err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "456789" {
		t.Errorf("range body %q", b)
	}
	if _, err := src.Open(context.Background(), srv.URL+"/missing", Request{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing object: %v", err)
	}
}

func TestFileSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(path, []byte("hello"), 0o644)
	obj, err := FileSource{}.Open(context.Background(), "file://"+path, Request{Offset: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "llo" || obj.Offset != 2 {
		t.Errorf("body %q offset %d", b, obj.Offset)
	}
	if _, err := (FileSource{}).Open(context.Background(), "file://"+path, Request{ETag: obj.ETag}); !errors.Is(err, ErrNotModified) {
		t.Errorf("same ETag: %v", err)
	}
	if _, err := (FileSource{}).Open(context.Background(), "file:///nonexistent/x", Request{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if _, err := (FileSource{}).Open(context.Background(), "file://remote-host/x", Request{}); err == nil {
		t.Error("a remote file URL opened")
	}
}

var fixedTime = mustTime("2026-11-25T10:15:03Z")
