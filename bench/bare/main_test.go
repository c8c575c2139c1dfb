package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBarePages: in both modes, every slot is filled with its fragment's
// body, in the template's order, on kept connections, and a slot whose id
// is not registered stays empty.
func TestBarePages(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("id") == "big" {
			io.WriteString(w, strings.Repeat("x", 100<<10)) // chunked
			return
		}
		body := "<b>" + r.URL.Query().Get("id") + "</b>"
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		io.WriteString(w, body)
	}))
	defer frag.Close()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("routes.json", `{"/p": "p.html"}`)
	write("p.html", `<h1>head</h1><micro-frontend id="a"/>|<micro-frontend id="none"/>|<micro-frontend id="big"/>|<micro-frontend id="b"/><footer>`)
	write("registry.json", fmt.Sprintf(`{"a": %q, "b": {"endpoint": %q}, "big": %q}`, frag.URL+"/f?id=a", frag.URL+"/f?id=b", frag.URL+"/f?id=big"))
	want := `<h1>head</h1><b>a</b>||` + strings.Repeat("x", 100<<10) + `|<b>b</b><footer>`
	for _, inline := range []bool{true, false} {
		srv := httptest.NewServer(load(dir, filepath.Join(dir, "registry.json"), inline))
		for i := range 3 { // the second and third pages reuse the connections
			resp, err := http.Get(srv.URL + "/p")
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != want {
				t.Fatalf("inline=%v, page %d: %v, %d bytes, want %d: %.80q", inline, i, err, len(b), len(want), strings.ReplaceAll(string(b), strings.Repeat("x", 100<<10), "X"))
			}
		}
		srv.Close()
	}
}
