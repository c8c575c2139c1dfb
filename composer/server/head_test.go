package server_test

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/registry"
)

// HEAD on a page answers with the headers GET would have, compression's
// included: a CDN or a checker that asks with HEAD learns the truth.
func TestHeadHasTheHeadersOfGet(t *testing.T) {
	t.Parallel()
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "<p>fragment</p>")
	}))
	defer frag.Close()
	reg := registry.New(map[string]registry.Entry{"f": {Endpoint: frag.URL}})
	s, ts, _ := newServer(t, reg, nil)
	s.SetTemplates(buildSet(t, map[string]string{
		"routes.json": `{"/": "a.html"}`,
		"a.html":      "<!doctype html><title>t</title><p>" + strings.Repeat("page ", 400) + `</p><micro-frontend id=f errorbehaviour=error/>`,
		"404.html":    "small",
	}))
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	headers := func(method, path, accept string) http.Header {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header.Clone()
		// Per response or per connection, not per method.
		for _, k := range []string{"Date", "Content-Length", "Transfer-Encoding", "X-Request-Id", "Server-Timing"} {
			h.Del(k)
		}
		return h
	}
	for _, path := range []string{"/", "/nope"} {
		for _, accept := range []string{"br", "gzip", "gzip, br", ""} {
			get, head := headers("GET", path, accept), headers("HEAD", path, accept)
			if !reflect.DeepEqual(get, head) {
				t.Errorf("%s with Accept-Encoding %q:\n GET  %v\n HEAD %v", path, accept, get, head)
			}
			if path == "/" && accept != "" && get.Get("Content-Encoding") == "" {
				t.Errorf("%s with %q: GET not compressed: %v", path, accept, get)
			}
		}
	}
}

// HEAD wants the page's status and headers only: it asks the fragments
// those wait for (a required one's status; the cache's peeks), never the
// ones only its body would show. A checker or a CDN that asks with HEAD
// does not send a request to every fragment of the page.
func TestHeadAsksOnlyTheFragmentsItsStatusWaitsFor(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	asked := map[string]int{}
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.URL.Path]++
		mu.Unlock()
		io.WriteString(w, "<p>fragment</p>")
	}))
	defer frag.Close()
	reg := registry.New(map[string]registry.Entry{
		"req": {Endpoint: frag.URL + "/req"}, "opt": {Endpoint: frag.URL + "/opt"}, "late": {Endpoint: frag.URL + "/late"},
	})
	s, ts, _ := newServer(t, reg, nil)
	s.SetTemplates(buildSet(t, map[string]string{
		"routes.json":  `{"/with": "with.html", "/without": "without.html"}`,
		"with.html":    `<!doctype html><title>t</title><micro-frontend id=req errorbehaviour=error/><micro-frontend id=opt/><micro-frontend id=late async/>`,
		"without.html": `<!doctype html><title>t</title><micro-frontend id=opt/><micro-frontend id=late async/>`,
		"404.html":     "small",
	}))
	count := func(method, path string) map[string]int {
		mu.Lock()
		clear(asked)
		mu.Unlock()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
		// A request cancelled as it left may still arrive: give the
		// fragment server a moment, then count.
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(asked)
	}
	if got := count("GET", "/with"); got["/req"] != 1 || got["/opt"] != 1 || got["/late"] != 1 {
		t.Errorf("GET asked %v, want every fragment once", got)
	}
	if got := count("HEAD", "/with"); got["/req"] != 1 || got["/opt"] != 0 || got["/late"] != 0 {
		t.Errorf("HEAD of a page with a required fragment asked %v, want the required one only", got)
	}
	if got := count("HEAD", "/without"); len(got) != 0 {
		t.Errorf("HEAD of a page without a required fragment asked %v, want none", got)
	}
}
