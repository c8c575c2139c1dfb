package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A visitor-chosen X-Request-Id is not echoed on a page a shared cache may
// keep (a CDN would store the header with the page and send that id to
// every visitor: RFC 9111 §3.1, a cache stores the header fields it
// received with the response). The id is still logged and sent to the fragments; on a page
// no shared cache keeps, it is echoed as before.
func TestRequestIDNotEchoedOnSharedPages(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	fragment := func(cc string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get("X-Request-Id"))
			mu.Unlock()
			w.Header().Set("Cache-Control", cc)
			io.WriteString(w, "<b>fragment</b>")
		}))
		t.Cleanup(s.Close)
		return s
	}
	shared, personal := fragment("public, max-age=60"), fragment("no-store")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/shared": "s.html", "/personal": "p.html"}`)
	writeFile(t, filepath.Join(dir, "s.html"), `<p>shared</p><micro-frontend id="s" errorbehaviour="error"/>`)
	writeFile(t, filepath.Join(dir, "p.html"), `<p>personal</p><micro-frontend id="p" errorbehaviour="error"/>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"s": %q, "p": %q}`, shared.URL, personal.URL))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile})

	page := func(path, id string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", inst.base+path, nil)
		req.Header.Set("X-Request-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := page("/shared", "attacker-chosen-id")
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=0, s-maxage=") {
		t.Fatalf("shared page: Cache-Control %q, want public", cc)
	}
	if id, ok := resp.Header["X-Request-Id"]; ok {
		t.Errorf("a publicly cacheable page echoes X-Request-Id %q", id)
	}
	resp = page("/personal", "visitor-id")
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("personal page: Cache-Control %q, want no-store", cc)
	}
	if id := resp.Header.Get("X-Request-Id"); id != "visitor-id" {
		t.Errorf("a no-store page: X-Request-Id %q, want the visitor's", id)
	}
	mu.Lock()
	if got := strings.Join(seen, ","); got != "attacker-chosen-id,visitor-id" {
		t.Errorf("fragments received X-Request-Id %q", got)
	}
	mu.Unlock()
	if logs := inst.logs.String(); !strings.Contains(logs, `"request_id":"attacker-chosen-id"`) {
		t.Errorf("the id is not logged:\n%s", logs)
	}
}
