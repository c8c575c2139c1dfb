package server_test

import (
	"net/http"
	"testing"

	"github.com/ssr-mfe/composer/composer/registry"
)

// Error answers carry Cache-Control: no-store, as the error pages of the
// composer do: a 404 for an unknown path (the template set's 404 page or
// the built-in one, GET and HEAD) and a 405 must not be kept by a CDN or a
// browser. Issue 12, finding F8.
func TestNotFoundAndMethodNotAllowedAreNoStore(t *testing.T) {
	t.Parallel()
	for _, files := range []map[string]string{
		{"routes.json": `{"/": "a.html"}`, "a.html": "page", "404.html": "custom 404"},
		{"routes.json": `{"/": "a.html"}`, "a.html": "page"},
	} {
		s, ts, _ := newServer(t, registry.New(map[string]registry.Entry{}), nil)
		s.SetTemplates(buildSet(t, files))
		for _, tt := range []struct {
			method, path string
			status       int
		}{
			{"GET", "/nope", http.StatusNotFound},
			{"HEAD", "/nope", http.StatusNotFound},
			{"GET", "/a/b/../c?x=1", http.StatusNotFound},
			{"POST", "/", http.StatusMethodNotAllowed},
		} {
			resp, _ := do(t, tt.method, ts.URL+tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s %s (404.html: %v): Cache-Control %q, want no-store", tt.method, tt.path, files["404.html"] != "", cc)
			}
		}
	}
}

// The 405 says "Allow: GET, HEAD" for every route, so the probes take HEAD
// as well as the pages.
func TestProbesAnswerHead(t *testing.T) {
	t.Parallel()
	_, ts, _ := newServer(t, registry.New(map[string]registry.Entry{}), nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Head(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("HEAD %s: 405 (Allow: %q)", path, resp.Header.Get("Allow"))
		}
	}
}
