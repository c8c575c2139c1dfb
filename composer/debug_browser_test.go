package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/settings"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// debugSite serves a page of a sync and an async fragment under the
// demo's strict CSP, with overrides on (key), the transports chained as
// newComposer chains them.
func debugSite(t *testing.T, key []byte) string {
	t.Helper()
	frag := func(body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) }))
		t.Cleanup(s.Close)
		return s.URL
	}
	reg := registry.New(map[string]registry.Entry{
		"reviews": {Endpoint: frag(`<section class="frag-reviews"><h2>Reviews</h2><p>Five stars.</p></section>`)},
		"recs":    {Endpoint: frag(`<aside class="frag-recs"><h2>You may also like</h2><p>More.</p></aside>`)},
	})
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	breakers := breaker.New(&fetch.Mux{HTTP: h, Override: h}, breaker.Options{Registry: reg})
	log := slog.New(slog.DiscardHandler)
	c := &stream.Composer{Fetch: breakers, Breakers: breakers, Registry: reg, Log: log}
	s := server.New(server.Options{Log: log, Composer: c, Registry: reg, CSP: settings.DemoCSP, OverrideKey: key})
	set, err := template.BuildSet(map[string][]byte{
		"routes.json": []byte(`{"/": "page.html"}`),
		"page.html": []byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Debug</title><link rel="icon" href="data:,"></head>` +
			`<body><main><micro-frontend id=reviews/><micro-frontend id=recs async><p>Loading</p></micro-frontend></main></body></html>`),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.SetTemplates(set)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL
}

// hover moves the mouse to the middle of the element sel.
func (b *browser) hover(sel string) {
	b.t.Helper()
	xy := eval[[]float64](b, `(() => { const r = document.querySelector(`+"`"+sel+"`"+`).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2] })()`)
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: xy[0], Y: xy[1]})
		return err
	}))
}

// The debug view under the demo's strict CSP: the overlay script runs
// (allowed by its hash), nothing is refused, and hovering a fragment
// outlines it and shows its figures; the async one too, once moved.
func TestBrowserDebugViewOverlay(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	key := []byte(strings.Repeat("k", override.MinKeyLen))
	base := debugSite(t, key)
	tok, err := override.Sign(key, override.Token{Debug: true, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{override.Header: tok}})
		return err
	}))
	b.do(chromedp.Navigate(base+"/?_debug=1"), b.until(`document.readyState === "complete" && !!document.querySelector(".frag-recs")`))
	if !eval[bool](b, `!!document.getElementById("mfe-debug-outline")`) {
		t.Fatal("the overlay script did not run")
	}
	for sel, want := range map[string][]string{
		".frag-reviews": {"id=reviews", "status=200", "outcome=ok", "breaker=closed", "kind=url"},
		".frag-recs":    {"id=recs", "status=200", "outcome=ok"},
	} {
		b.hover(sel)
		b.do(b.until(`getComputedStyle(document.getElementById("mfe-debug-outline")).display === "block"`))
		label := eval[string](b, `document.getElementById("mfe-debug-label").textContent`)
		for _, w := range want {
			if !strings.Contains(label, w) {
				t.Errorf("hovering %s: label %q lacks %q", sel, label, w)
			}
		}
		// The outline is the fragment's box.
		same := eval[bool](b, `(() => { const o = document.getElementById("mfe-debug-outline").getBoundingClientRect(), f = document.querySelector("`+sel+`").getBoundingClientRect(); return Math.abs(o.top - f.top) < 1 && Math.abs(o.left - f.left) < 1 && Math.abs(o.width - f.width) < 1 })()`)
		if !same {
			t.Errorf("hovering %s: the outline is not around it", sel)
		}
		b.screenshot("debug-overlay" + strings.ReplaceAll(sel, ".", "-"))
	}
	if p := b.seen(); len(p) > 0 {
		t.Errorf("problems under the strict CSP (a violation is one):\n%s", strings.Join(p, "\n"))
	}
	if b.inlineRuns() {
		t.Error("an inline script not allowed by hash ran: the CSP is not in force")
	}
}

// Without a debug token, ?_debug=1 shows no overlay.
func TestBrowserDebugViewNeedsAToken(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	key := []byte(strings.Repeat("k", override.MinKeyLen))
	base := debugSite(t, key)
	b.do(chromedp.Navigate(base+"/?_debug=1"), b.until(`document.readyState === "complete" && !!document.querySelector(".frag-recs")`))
	if eval[bool](b, `!!document.getElementById("mfe-debug-outline")`) {
		t.Error("an overlay without a debug token")
	}
	if p := b.seen(); len(p) > 0 {
		t.Errorf("problems:\n%s", strings.Join(p, "\n"))
	}
}
