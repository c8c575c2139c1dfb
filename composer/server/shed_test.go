package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
)

// Beyond MaxPages pages in flight a new page gets 503 with Retry-After at
// once, and no fragment is asked for it; health and readiness are never
// shed; once pages finish, pages are served again.
func TestPagesBeyondTheCapAreShed(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var hits atomic.Int64
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "<p>slow</p>")
	}))
	t.Cleanup(frag.Close)
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	reg := registry.New(map[string]registry.Entry{"slow": {Endpoint: frag.URL}})
	log := slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil))
	metrics := prometheus.NewRegistry()
	m := server.NewMetrics(metrics)
	s := server.New(server.Options{Log: log, Registry: reg, Metrics: m, MaxPages: 3,
		Composer: &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log, Timeout: time.Minute}})
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<micro-frontend id="slow"/>`}))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if resp, body := do(t, "GET", ts.URL+"/", nil); resp.StatusCode != 200 || !strings.Contains(body, "slow") {
				t.Errorf("a page within the cap: %d %q", resp.StatusCode, body)
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for hits.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for range 5 {
		resp, _ := do(t, "GET", ts.URL+"/", nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("a page beyond the cap: %d Retry-After %q Cache-Control %q, want 503, 1, no-store",
				resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, _ := do(t, "GET", ts.URL+path, nil); resp.StatusCode != 200 {
			t.Errorf("%s while pages are shed: %d", path, resp.StatusCode)
		}
	}
	if got := hits.Load(); got != 3 {
		t.Errorf("the fragment got %d requests, want 3: none for a shed page", got)
	}
	if err := testutil.GatherAndCompare(metrics, strings.NewReader(`# HELP composer_pages_shed_total Pages answered 503 at once because COMPOSER_MAX_PAGES pages were in flight.
# TYPE composer_pages_shed_total counter
composer_pages_shed_total 5
`), "composer_pages_shed_total"); err != nil {
		t.Error(err)
	}
	close(release)
	wg.Wait()
	if resp, _ := do(t, "GET", ts.URL+"/", nil); resp.StatusCode != 200 {
		t.Errorf("after the pages finished: %d", resp.StatusCode)
	}
}
