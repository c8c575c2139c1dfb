package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The server's chain hedges a fragment whose entry asks for it: the page
// gets the second request's answer while the first is held, the fragment
// sees the first cancelled, and the metric counts the hedge that won.
func TestHedgedFragmentInThePage(t *testing.T) {
	var n atomic.Int64
	cancelled := make(chan struct{})
	done := make(chan struct{})
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i == 1 {
			select {
			case <-r.Context().Done():
				close(cancelled)
			case <-done:
			}
			return
		}
		fmt.Fprintf(w, "<b>answer %d</b>", i)
	}))
	t.Cleanup(frag.Close)
	t.Cleanup(func() { close(done) })
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/p": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><html><head><title>p</title></head><body><micro-frontend id="a"/></body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"a": {"endpoint": %q, "hedge": {"delay": "100ms", "budget": 1}}}`, frag.URL))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_FRAGMENT_TIMEOUT": "20s"})
	status, page := fetchPage(t, inst.base+"/p")
	if status != 200 || !strings.Contains(page, "<b>answer 2</b>") {
		t.Fatalf("%d %s", status, page)
	}
	select {
	case <-cancelled:
	case <-time.After(safety):
		t.Fatal("the first request was never cancelled")
	}
	if v := metricValue(t, inst.admin, "composer_fragment_hedges_total", `{fragment="a",outcome="won",version=""}`); v != 1 {
		t.Errorf("hedges won: %v", v)
	}
}
