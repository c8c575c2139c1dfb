package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ssr-mfe/composer/fragments"
)

// The README's walkthrough of the demo, each example loaded twice in
// Chromium: what the README says a page shows, it shows on every load, not
// only on the first one before the composer's fragment cache has the
// answers.

// countedDemo runs the demo fragments as `go run ./composer` does (the
// switches, the registry's deadlines), counting the requests that reach
// each fragment's handler, and the composer on the demo templates.
type countedDemo struct {
	inst  *instance
	asked map[string]*atomic.Int64
}

func startCountedDemo(t *testing.T) *countedDemo {
	t.Helper()
	d := &countedDemo{asked: map[string]*atomic.Int64{}}
	frags := fragments.All(fragments.DefaultRecommendationsDelay)
	for i, f := range frags {
		n := &atomic.Int64{}
		d.asked[f.Name] = n
		next := f.Handler
		frags[i].Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			next.ServeHTTP(w, r)
		})
	}
	demo, err := fragments.StartDemo(slog.New(slog.DiscardHandler), frags)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { demo.Close(context.Background()) })
	reg := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(reg, demo.Registry, 0o644); err != nil {
		t.Fatal(err)
	}
	d.inst = start(t, map[string]string{"COMPOSER_REGISTRY": reg})
	return d
}

// watchScript runs in every document before the page's own bytes, outside
// the page's CSP. It records what the page held at the moment the book's
// title and the footer were first parsed: whether the reviews had arrived,
// whether the recommendations' skeleton was there and their books were not.
const watchScript = `(() => {
  const seen = window.__walk = {};
  const q = s => !!document.querySelector(s);
  new MutationObserver(() => {
    if (!seen.product && q("#product-title")) {
      seen.product = {reviews: q(".reviews .review, section.fallback")};
    }
    if (!seen.footer && q(".site-footer")) {
      seen.footer = {
        skeleton: q('mfe-placeholder[data-fragment="recommendations"] .skeleton'),
        recs: q(".recs-list"),
      };
    }
  }).observe(document, {childList: true, subtree: true});
})()`

type walkSeen struct {
	Product *struct{ Reviews bool }
	Footer  *struct{ Skeleton, Recs bool }
}

func TestBrowserReadmeWalkthroughOnEveryLoad(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	demo := startCountedDemo(t)
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchScript})
		return err
	}))

	// What each README example shows, checked once the page has loaded,
	// with what the watcher saw on the way.
	realReviews := func(t *testing.T, s walkSeen) {
		t.Helper()
		if b.count(".reviews .review") == 0 || b.count("section.fallback") != 0 {
			t.Error("the reviews are not shown (or their fallback is)")
		}
	}
	reviewsFallback := func(t *testing.T, s walkSeen) {
		t.Helper()
		if b.count("section.fallback") != 1 || b.count(".reviews .review") != 0 {
			t.Error("the reviews' fallback is not what is shown")
		}
		if b.count("#product-title") != 1 {
			t.Error("the rest of the page is not there around the fallback")
		}
	}
	reviewsLate := func(t *testing.T, s walkSeen) {
		t.Helper()
		if s.Product == nil || s.Product.Reviews {
			t.Errorf("the reviews' place was not empty when the book appeared (%+v)", s.Product)
		}
	}
	skeleton := func(t *testing.T, s walkSeen) {
		t.Helper()
		if s.Footer == nil || !s.Footer.Skeleton || s.Footer.Recs {
			t.Errorf("when the footer arrived, the recommendations' skeleton was not shown in their place (%+v)", s.Footer)
		}
		if b.count(".page-below > .recs .recs-list") != 1 || b.count("mfe-placeholder") != 0 {
			t.Error("the recommendations did not take the skeleton's place")
		}
	}
	headerFallback := func(t *testing.T, s walkSeen) {
		t.Helper()
		if b.count(".site-header") != 1 || b.count(".site-nav") != 0 {
			t.Error("the header's fallback is not what is shown")
		}
	}
	for _, ex := range []struct {
		query  string
		checks []func(*testing.T, walkSeen)
		asked  []string // fragments asked again on every load: nothing cached
	}{
		{"?slow=reviews:800ms", []func(*testing.T, walkSeen){reviewsLate, realReviews}, []string{"reviews"}},
		{"?slow=reviews", []func(*testing.T, walkSeen){reviewsFallback}, nil},
		{"?fail=reviews", []func(*testing.T, walkSeen){reviewsFallback}, nil},
		{"?slow=recommendations:2s", []func(*testing.T, walkSeen){skeleton, realReviews}, []string{"recommendations"}},
		// Not reviews:2s: reviews that answer as the header's 2 s run out
		// may be there when the page reaches them, and then they are shown
		// (the page's waiting for the header is not theirs).
		{"?slow=header,reviews", []func(*testing.T, walkSeen){headerFallback, reviewsFallback}, nil},
		{"?slow=reviews:800ms,recommendations:2s", []func(*testing.T, walkSeen){reviewsLate, realReviews, skeleton}, []string{"reviews", "recommendations"}},
	} {
		t.Run(strings.TrimPrefix(ex.query, "?"), func(t *testing.T) {
			for load := 1; load <= 2; load++ {
				before := map[string]int64{}
				for _, f := range ex.asked {
					before[f] = demo.asked[f].Load()
				}
				b.do(chromedp.Navigate(demo.inst.base + "/product/2" + ex.query))
				var s walkSeen
				if err := json.Unmarshal([]byte(eval[string](b, `JSON.stringify(window.__walk)`)), &s); err != nil {
					t.Fatal(err)
				}
				for _, check := range ex.checks {
					check(t, s)
				}
				for _, f := range ex.asked {
					if n := demo.asked[f].Load() - before[f]; n != 1 {
						t.Errorf("load %d: the %s fragment was asked %d times, want 1 (a switched page must not come from the cache)", load, f, n)
					}
				}
				if t.Failed() {
					b.screenshot("walkthrough-" + strings.NewReplacer("?", "", ",", "_", ":", "_", "=", "-").Replace(ex.query))
					t.Fatalf("load %d of %s: not what the README says", load, ex.query)
				}
			}
		})
	}

	// The error page, on every load.
	for load := 1; load <= 2; load++ {
		b.do(chromedp.Navigate(demo.inst.base+"/product/2?fail=product"), b.visible(`h1`))
		if text := b.text(`h1`); text != "This page is not available right now" {
			t.Errorf("load %d of ?fail=product: h1 = %q", load, text)
		}
	}
}
