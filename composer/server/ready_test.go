package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
)

// Until templates and registry have both been loaded once, every page is
// a 503 that a CDN does not keep and a client may retry; mounted paths
// (static files, proxies) and the health checks answer as usual.
func TestPagesAnswer503UntilTheFirstGoodLoad(t *testing.T) {
	t.Parallel()
	reg := registry.New(nil)
	s, ts, _ := newServer(t, reg, map[string]http.Handler{
		"/static/*": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("asset")) }),
	})
	check503 := func(when, path, wantBody string) {
		t.Helper()
		resp, body := do(t, "GET", ts.URL+path, nil)
		if resp.StatusCode != 503 {
			t.Errorf("%s: %s: %d, want 503", when, path, resp.StatusCode)
		}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n <= 0 {
			t.Errorf("%s: %s: Retry-After %q, want seconds", when, path, resp.Header.Get("Retry-After"))
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: %s: Cache-Control %q, want no-store", when, path, cc)
		}
		if !strings.Contains(body, wantBody) || strings.Contains(body, "There is no page at this address") {
			t.Errorf("%s: %s: body %q, want %q", when, path, body, wantBody)
		}
	}
	for _, path := range []string{"/", "/product/1", "/nope"} {
		check503("nothing loaded", path, "Service Unavailable")
	}
	if resp, body := do(t, "GET", ts.URL+"/static/x.css", nil); resp.StatusCode != 200 || body != "asset" {
		t.Errorf("a mount before loading: %d %q", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", ts.URL+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}

	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "page", "503.html": "custom 503"}))
	check503("templates but no registry", "/", "custom 503")
	check503("templates but no registry", "/nope", "custom 503")

	reg.Update(nil)
	if resp, body := do(t, "GET", ts.URL+"/", nil); resp.StatusCode != 200 || body != "page" {
		t.Errorf("loaded: %d %q", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", ts.URL+"/nope", nil); resp.StatusCode != 404 {
		t.Errorf("loaded, unknown path: %d, want 404", resp.StatusCode)
	}
}

// A source that refused a change leaves the server ready (the last good
// copy serves), and /readyz says so in the words the notices give.
func TestReadyzCarriesNotices(t *testing.T) {
	t.Parallel()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	reg := registry.New(map[string]registry.Entry{})
	notice := "templates: a change was refused at 2026-11-27T11:00:00Z; the last good set serves"
	s := server.New(server.Options{Log: log, Composer: &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log}, Registry: reg,
		Notices: func() []string { return []string{notice} }})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "a"}))
	if resp, body := do(t, "GET", ts.URL+"/readyz", nil); resp.StatusCode != 200 || body != "ready\n"+notice+"\n" {
		t.Errorf("readyz: %d %q", resp.StatusCode, body)
	}
}
