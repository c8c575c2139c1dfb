package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ssr-mfe/composer/composer/settings"
)

// The compatibility suite: fragments rendered by the real framework
// packages (compat/server.mjs, pinned by compat/package-lock.json),
// composed under the demo's strict CSP and checked in Chromium. Without
// compat/node_modules it skips, but not in CI, which installs it.

// compatServer starts compat/server.mjs and returns its base URL.
func compatServer(t *testing.T) string {
	t.Helper()
	chromium(t) // the suite is for the browser: skip with the browser tests
	dir, err := filepath.Abs("../compat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "react-dom")); err != nil {
		msg := "compat/node_modules is missing: run npm ci in compat/ (.ci/run does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is missing")
		}
		t.Skip("node is missing")
	}
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT=0", "NODE_ENV=production")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("compat server's stderr:\n%s", stderr.String())
		}
	})
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var line struct{ Port int }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Port > 0 {
				port <- line.Port
			}
		}
	}()
	select {
	case p := <-port:
		return fmt.Sprintf("http://127.0.0.1:%d", p)
	case <-time.After(safety):
		t.Fatalf("compat server did not start: %s", stderr.String())
	}
	return ""
}

// compatPages are the suite's templates, by path.
var compatPages = map[string]string{
	"/react-sync":   `<micro-frontend id="react"/>`,
	"/react-async":  `<micro-frontend id="react" async>…</micro-frontend>`,
	"/react-two":    `<micro-frontend id="react"/><micro-frontend id="react"/><micro-frontend id="react" async/>`,
	"/all":          `<micro-frontend id="react"/><micro-frontend id="vue"/><micro-frontend id="podium"/><micro-frontend id="tailor"/><micro-frontend id="vue" async/><micro-frontend id="podium" async/><micro-frontend id="tailor" async/>`,
	"/inject-sync":  `<micro-frontend id="inject"/>`,
	"/inject-async": `<micro-frontend id="inject" async/>`,
}

// startCompat composes the compat fragments with the demo's policy (or
// csp, when not empty; "none" for no policy at all), the fragment server's paths proxied under
// /compat/ so that its scripts and styles are the page's own origin's.
func startCompat(t *testing.T, csp string) *instance {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	frag := compatServer(t)
	dir := t.TempDir()
	routes := map[string]string{}
	for path, body := range compatPages {
		name := strings.TrimPrefix(path, "/") + ".html"
		routes[path] = name
		writeFile(t, filepath.Join(dir, name), `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>compat</title></head><body><main>`+body+`</main></body></html>`)
	}
	r, _ := json.Marshal(routes)
	writeFile(t, filepath.Join(dir, "routes.json"), string(r))
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, fmt.Sprintf(`{
		"react": %q, "vue": %q, "tailor": %q, "inject": %q,
		"podium": {"endpoint": %q, "podium": true}
	}`, frag+"/compat/react", frag+"/compat/vue", frag+"/compat/tailor", frag+"/compat/inject", frag+"/compat/podium/"))
	switch csp {
	case "":
		csp = settings.DemoCSP
	case "none":
		csp = "" // custom templates and no policy: the page has none
	}
	return start(t, map[string]string{
		"COMPOSER_TEMPLATES":     dir,
		"COMPOSER_REGISTRY":      reg,
		"COMPOSER_CSP":           csp,
		"COMPOSER_PROXY":         "/compat/=" + frag,
		"COMPOSER_PUBLIC_ORIGIN": "https://shop.example",
		"COMPOSER_CACHE_BYTES":   "0",
	})
}

// watchPage makes every document the browser opens record its CSP
// violations (securitypolicyviolation), and asks for one content encoding.
func (b *browser) watchPage(encoding string) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, page.Enable, page.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			window.compatViolations = [];
			document.addEventListener("securitypolicyviolation", e => window.compatViolations.push(e.effectiveDirective + " " + (e.blockedURI || "") + " " + (e.sample || "")));
		`})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Encoding": encoding}})
		return err
	}))
}

// encodings are the page encodings the suite runs under.
var encodings = []string{"gzip", "br"}

// wait polls js until it is true or d has passed, and says which.
func (b *browser) wait(js string, d time.Duration) bool {
	b.t.Helper()
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if eval[bool](b, js) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func TestCompatBrowserReactRevealsUnderTheCSP(t *testing.T) {
	inst := startCompat(t, "")
	for _, enc := range encodings {
		t.Run(enc, func(t *testing.T) {
			b := newBrowser(t, 1280, 900)
			encodingOf := b.trackEncodings()
			b.watchPage(enc)
			for path, want := range map[string]int{"/react-sync": 1, "/react-async": 1, "/react-two": 3} {
				b.open(inst.base + path)
				b.wait(fmt.Sprintf(`document.querySelectorAll(".react-fragment .react-revealed").length === %d && (window.compatReactHydrated || []).length === %d`, want, want), 5*time.Second)
				if got := b.count(".react-fragment .react-revealed"); got != want {
					t.Errorf("%s: %d Suspense boundaries revealed, want %d", path, got, want)
				}
				if got := eval[int](b, `(window.compatReactHydrated || []).length`); got != want {
					t.Errorf("%s: %d React roots hydrated, want %d", path, got, want)
				}
				if got := b.count(".react-loading"); got != 0 {
					t.Errorf("%s: %d boundaries still loading", path, got)
				}
				// Hydrated: a click updates React's state.
				eval[bool](b, `(document.querySelector(".react-count").click(), true)`)
				if !b.wait(`document.querySelector(".react-count").textContent === "clicked 1"`, 2*time.Second) {
					t.Errorf("%s: a click did not update React's state", path)
				}
				b.checkClean(path)
				if e := encodingOf(inst.base + path); e != enc {
					t.Errorf("%s: Content-Encoding %q, want %q", path, e, enc)
				}
			}
		})
	}
}

func TestCompatBrowserFrameworksTogether(t *testing.T) {
	inst := startCompat(t, "")
	for _, enc := range encodings {
		t.Run(enc, func(t *testing.T) {
			b := newBrowser(t, 1280, 900)
			encodingOf := b.trackEncodings()
			b.watchPage(enc)
			b.open(inst.base + "/all")
			b.wait(`(window.compatReactHydrated || []).length === 1 && (window.compatVueMounted || []).length === 2 && document.querySelectorAll(".podlet[data-ran]").length === 2`, 5*time.Second)
			if n := eval[int](b, `(window.compatReactHydrated || []).length`); n != 1 {
				t.Errorf("%d React roots hydrated, want 1", n)
			}
			if n := eval[int](b, `(window.compatVueMounted || []).length`); n != 2 {
				t.Errorf("%d Vue apps hydrated, want 2", n)
			}
			if n := eval[int](b, `window.compatPodletRuns || 0`); n != 1 {
				t.Errorf("the podlet's module ran %d times, want once", n)
			}
			for href, sel := range map[string]string{"/compat/shared.css": ".vue-fragment", "/compat/podium/css/app.css": ".podlet", "/compat/tailor/t.css": ".tailor-fragment"} {
				if n := b.count(fmt.Sprintf(`link[rel=stylesheet][href=%q]`, href)); n != 1 {
					t.Errorf("%s: %d <link>s, want one", href, n)
				}
				if n := eval[int](b, fmt.Sprintf(`[...document.styleSheets].filter(s => s.href && s.href.endsWith(%q)).length`, href)); n != 1 {
					t.Errorf("%s: applied %d times, want once", href, n)
				}
				for _, el := range []string{sel} {
					if !eval[bool](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].every(e => getComputedStyle(e).color !== "rgb(0, 0, 0)" || getComputedStyle(e).borderTopColor === "rgb(0, 0, 255)")`, el)) {
						t.Errorf("%s does not style %s", href, el)
					}
				}
			}
			if n := b.count(`script[src="/compat/podium/js/app.js"]`); n > 1 {
				t.Errorf("the podlet's script is on the page %d times", n)
			}
			// Podium's context, from what the CDN sees.
			for attr, want := range map[string]string{"locale": "en-US", "device": "desktop", "origin": "https://shop.example", "requested-by": "all.html"} {
				if got := eval[string](b, fmt.Sprintf(`document.querySelector(".podlet").dataset[%q]`, camel(attr))); got != want {
					t.Errorf("podlet context %s = %q, want %q", attr, got, want)
				}
			}
			b.checkClean("/all")
			if e := encodingOf(inst.base + "/all"); e != enc {
				t.Errorf("Content-Encoding %q, want %q", e, enc)
			}
		})
	}
}

func camel(s string) string {
	if a, b, ok := strings.Cut(s, "-"); ok {
		return a + strings.ToUpper(b[:1]) + b[1:]
	}
	return s
}

func TestCompatBrowserInjectedScriptsNeverRun(t *testing.T) {
	inst := startCompat(t, "")
	payload := `<script>(window.compatPwned ||= []).push("inline")</script>` +
		`<script src="/compat/evil.js"></script>` +
		`<svg><script>(window.compatPwned ||= []).push("svg")</script></svg>` +
		`<script type="module">(window.compatPwned ||= []).push("module")</script>`
	for _, enc := range encodings {
		t.Run(enc, func(t *testing.T) {
			b := newBrowser(t, 1280, 900)
			b.watchPage(enc)
			for _, path := range []string{"/inject-sync", "/inject-async"} {
				b.open(inst.base + path + "?x=" + url.QueryEscape(payload))
				// The fragment's own script, vouched for by its nonce, runs:
				// the page is done when it has.
				if !b.wait(`window.compatInjectOwn === 1 && !document.querySelector("mfe-placeholder")`, 5*time.Second) {
					t.Errorf("%s: the fragment's own vouched script did not run once (%v)", path, eval[any](b, `window.compatInjectOwn`))
				}
				// Its own scripts ran as they would inline: in order, the
				// deferred one and the module once the document was parsed,
				// the classic one seeing document.currentScript; its data
				// block is still data.
				b.wait(`(window.compatOrder || []).length === 4`, 5*time.Second)
				if got := eval[string](b, `(window.compatOrder || []).join(",")`); got != "a:SCRIPT,d,b-defer,c-module" {
					t.Errorf("%s: the fragment's scripts ran as %q, want a:SCRIPT,d,b-defer,c-module", path, got)
				}
				if !eval[bool](b, `JSON.parse(document.getElementById("inject-data").textContent).kept === true`) {
					t.Errorf("%s: the fragment's JSON data block is not readable", path)
				}
				// Give an injected src script the time to load and run.
				b.wait(`false`, 500*time.Millisecond)
				if got := eval[[]string](b, `window.compatPwned || []`); len(got) > 0 {
					t.Errorf("%s: injected scripts ran: %q", path, got)
				}
			}
		})
	}
}

// checkClean fails on CSP script violations and on the page's problems
// (console errors, exceptions, hydration errors).
func (b *browser) checkClean(path string) {
	b.t.Helper()
	for _, v := range eval[[]string](b, `window.compatViolations || []`) {
		if strings.HasPrefix(v, "script-src") {
			b.t.Errorf("%s: CSP violation: %s", path, v)
		}
	}
	if errs := eval[[]string](b, `window.compatErrors || []`); len(errs) > 0 {
		b.t.Errorf("%s: framework errors: %q", path, errs)
	}
	if p := b.seen(); len(p) > 0 {
		b.t.Errorf("%s: problems:\n%s", path, strings.Join(p, "\n"))
	}
}

// trackEncodings records the Content-Encoding of every response, and
// returns what it saw for a URL.
func (b *browser) trackEncodings() func(url string) string {
	var mu sync.Mutex
	seen := map[string]string{}
	err := chromedp.Listen(b.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventResponseReceived); ok {
			mu.Lock()
			defer mu.Unlock()
			seen[ev.Response.URL] = ""
			for k, v := range ev.Response.Headers {
				if strings.EqualFold(k, "Content-Encoding") {
					seen[ev.Response.URL] = fmt.Sprint(v)
				}
			}
		}
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return func(url string) string {
		mu.Lock()
		defer mu.Unlock()
		return seen[url]
	}
}

// TestCompatBrowserRevealTiming measures, with Chromium's network
// emulation at a 50 ms round trip, when React's Suspense content becomes
// visible with the strict policy and without any, in a sync and an async
// slot, and how many requests a page makes. It logs; timings are never
// assertions here. Run it with COMPAT_MEASURE=1 (or the number of runs of
// each page, 7 by default).
func TestCompatBrowserRevealTiming(t *testing.T) {
	if os.Getenv("COMPAT_MEASURE") == "" {
		t.Skip("a measurement: set COMPAT_MEASURE=1")
	}
	runs := 7
	if n, err := strconv.Atoi(os.Getenv("COMPAT_MEASURE")); err == nil && n > 1 {
		runs = n
	}
	for _, policy := range []string{"none", ""} {
		inst := startCompat(t, policy)
		name := map[string]string{"none": "no policy", "": "strict policy"}[policy]
		for _, path := range []string{"/react-sync", "/react-async", "/all"} {
			var reveal, requests []float64
			for range runs {
				b := newBrowser(t, 1280, 900)
				b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					if _, err := cdp.Call(ctx, tg, page.Enable, page.EnableParams{}); err != nil {
						return err
					}
					if _, err := cdp.Call(ctx, tg, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
						MatchedNetworkConditions: []*network.Conditions{{Latency: 50, DownloadThroughput: -1, UploadThroughput: -1}},
					}); err != nil {
						return err
					}
					_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
						new MutationObserver((_, o) => {
							if (document.querySelector(".react-fragment .react-revealed")) { window.compatRevealAt = performance.now(); o.disconnect(); }
						}).observe(document, {subtree: true, childList: true});
					`})
					return err
				}))
				b.open(inst.base + path)
				if !b.wait(`window.compatRevealAt > 0 && (window.compatReactHydrated || []).length > 0 && document.readyState === "complete"`, 10*time.Second) {
					t.Errorf("%s %s: not revealed and hydrated", name, path)
					continue
				}
				reveal = append(reveal, eval[float64](b, `window.compatRevealAt`))
				requests = append(requests, eval[float64](b, `performance.getEntriesByType("resource").length + 1`))
			}
			t.Logf("%-13s %-12s Suspense content visible at median %.0f ms (runs: %v); requests per page: %v", name, path, median(reveal), rounded(reveal), requests)
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	slices.Sort(s)
	return s[len(s)/2]
}

func rounded(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}
