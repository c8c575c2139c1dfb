package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ssr-mfe/composer/fragments"
	"github.com/ssr-mfe/composer/templates"
)

// Browser tests drive Debian's Chromium through chromedp against the real
// server (run on a loopback port) and the demo fragments. Without Chromium
// they skip; CI installs it.

// artifacts is where screenshots go (ignored by git).
const artifacts = "../artifacts/browser"

func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	for _, name := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium not found: install it (Debian: apt-get update && apt-get install -y chromium) or set CHROMIUM=/path/to/chrome; .ci/run does"
	if os.Getenv("CI") != "" {
		t.Fatal(msg) // CI installs it: a skip there would hide a broken install
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium with a fresh profile, and what it saw.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors, exceptions, failed requests
}

func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(width, height),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, a.Description+string(fmt.Sprint(a.Value)))
				}
				b.problem("console error: " + strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			b.problem("exception: " + ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				b.problem("log error: " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		case *network.EventResponseReceived:
			if ev.Response.Status >= 400 {
				b.problem(fmt.Sprintf("HTTP %d for %s", ev.Response.Status, ev.Response.URL))
			}
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				b.problem("request failed: " + ev.ErrorText)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, t, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, runtime.Enable, cdp.Empty{})
		return err
	}))
	return b
}

func (b *browser) problem(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, p)
}

func (b *browser) seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// do runs steps, each bounded so that a page that never shows what is
// awaited fails the test instead of hanging it.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, safety)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func runAction[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, safety)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	return runAction(b, chromedp.Evaluate[T](js))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return runAction(b, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// until polls js until it is true. A poll that started in the document
// before a navigation committed loses its execution context ("Cannot find
// context with specified id"): it starts again in the new document.
func (b *browser) until(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			_, err := chromedp.Poll[bool](js)(ctx, t)
			if err == nil || !strings.Contains(err.Error(), "Cannot find context with specified id") || ctx.Err() != nil {
				return chromedp.Void{}, err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// open starts loading url and returns once the navigation has committed,
// without waiting for the page to finish: the point is to look at it while
// it streams.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: url})
		if err == nil && res.ErrorText != "" {
			err = fmt.Errorf("navigate: %s", res.ErrorText)
		}
		return err
	}))
}

// screenshot saves the viewport as name.png in the artifacts folder and
// returns the image.
func (b *browser) screenshot(name string) image.Image {
	b.t.Helper()
	buf := runAction(b, chromedp.CaptureScreenshot())
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifacts, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatal(err)
	}
	return img
}

// axName is the accessible name Chromium computes for the first element
// matching sel: what a screen reader announces.
func (b *browser) axName(sel string) string {
	b.t.Helper()
	var name string
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ev, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{Expression: fmt.Sprintf("document.querySelector(%q)", sel)})
		if err != nil {
			return err
		}
		if ev.Result == nil || ev.Result.ObjectID == "" {
			return fmt.Errorf("no element %s", sel)
		}
		relatives := false
		ax, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: ev.Result.ObjectID, FetchRelatives: &relatives})
		if err != nil {
			return err
		}
		if len(ax.Nodes) == 0 || ax.Nodes[0].Name == nil {
			return fmt.Errorf("%s has no accessible name", sel)
		}
		return json.Unmarshal(ax.Nodes[0].Name.Value, &name)
	}))
	return name
}

// misnamed lists the elements whose aria-label or aria-labelledby screen
// readers ignore: those whose role, stated or implied by the element, may
// not be named (ARIA 1.2: paragraph, generic and the text-level roles).
func (b *browser) misnamed() []string {
	b.t.Helper()
	return eval[[]string](b, `(() => {
		const prohibited = new Set(["caption", "code", "deletion", "emphasis", "generic", "insertion", "none", "paragraph", "presentation", "strong", "subscript", "superscript"]);
		const implied = {P: "paragraph", SPAN: "generic", DIV: "generic", B: "generic", I: "generic", U: "generic", S: "deletion", SMALL: "generic", CODE: "code", DEL: "deletion", INS: "insertion", EM: "emphasis", STRONG: "strong", SUB: "subscript", SUP: "superscript", CAPTION: "caption"};
		return [...document.querySelectorAll("[aria-label], [aria-labelledby]")]
			.filter(e => prohibited.has((e.getAttribute("role") || "").trim().split(/\s+/)[0] || implied[e.tagName] || ""))
			.map(e => e.outerHTML.slice(0, 120));
	})()`)
}

// inlineRuns reports whether a parser-inserted inline script whose hash
// the page's policy does not list runs: in a srcdoc frame, which inherits
// the policy (a script inserted from here would run under
// 'strict-dynamic', as the composer's activator relies on).
func (b *browser) inlineRuns() bool {
	b.t.Helper()
	eval[bool](b, `(() => { const f = document.createElement("iframe"); f.id = "csp-probe"; f.srcdoc = "<script>parent.__inline = true<\/script><p id=done>"; document.body.append(f); return true })()`)
	b.do(b.until(`(() => { const f = document.getElementById("csp-probe"); return !!(f && f.contentDocument && f.contentDocument.getElementById("done")) })()`))
	return eval[bool](b, `window.__inline === true`)
}

// count returns how many elements match selector now.
func (b *browser) count(selector string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, selector))
}

// gatedDemo runs the demo fragments, with the named ones held until the
// test releases them, and the composer on the demo templates with a
// registry file pointing at them.
type gatedDemo struct {
	inst  *instance
	gates map[string]chan struct{}
}

func startGatedDemo(t *testing.T, held ...string) *gatedDemo {
	t.Helper()
	g := &gatedDemo{gates: map[string]chan struct{}{}}
	frags := fragments.All(fragments.DefaultRecommendationsDelay)
	for i, f := range frags {
		for _, h := range held {
			if f.Name != h {
				continue
			}
			gate := make(chan struct{})
			g.gates[h] = gate
			next := f.Handler
			frags[i].Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-gate:
					next.ServeHTTP(w, r)
				case <-r.Context().Done():
				}
			})
		}
	}
	demo, err := fragments.StartDemo(slog.New(slog.DiscardHandler), frags)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { demo.Close(context.Background()) })
	// A held fragment waits for the test, not for its deadline: however
	// slow the machine, the release comes first.
	var entries map[string]map[string]any
	if err := json.Unmarshal(demo.Registry, &entries); err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		entries[h]["timeout"] = "60s"
	}
	regJSON, _ := json.Marshal(entries)
	reg := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(reg, regJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	g.inst = start(t, map[string]string{"COMPOSER_REGISTRY": reg})
	return g
}

func (g *gatedDemo) release(name string) { close(g.gates[name]) }

// dark reports whether the pixel at (x, y) is dark: the header is.
func dark(img image.Image, x, y int) bool {
	r, gr, bl, _ := img.At(x, y).RGBA()
	return (r+gr+bl)/3 < 0x5000
}

func TestBrowserProgressiveRendering(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	// The notifications fragment sits after the product and the reviews
	// and before the footer; it has no deadline in the template.
	demo := startGatedDemo(t, "notifications")
	b.open(demo.inst.base + "/product/1")
	b.do(b.visible(`#product-title`), b.visible(`.reviews .review`))
	img := b.screenshot("progressive-held")
	if !dark(img, 20, 20) {
		t.Error("the header is not painted while a fragment is held")
	}
	if n := b.count("[data-toasts]"); n != 0 {
		t.Errorf("%d notification containers while the fragment is held", n)
	}
	if n := b.count(".site-footer"); n != 0 {
		t.Error("the footer, which comes after the held fragment, is already there")
	}
	if eval[string](b, `document.readyState`) == "complete" {
		t.Error("document complete while a fragment is held")
	}
	demo.release("notifications")
	b.do(b.visible(`.site-footer`), b.until(`document.readyState === "complete" && !!document.querySelector("[data-toasts]")`))
	b.screenshot("progressive-released")
}

func TestBrowserAsyncPlaceholderReplacedInPlace(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	demo := startGatedDemo(t, "recommendations")
	b.open(demo.inst.base + "/product/2")
	b.do(b.visible(`mfe-placeholder[data-fragment="recommendations"] .skeleton`))
	// What follows the async fragment is there before it: the footer.
	b.do(b.visible(`.site-footer`))
	b.screenshot("async-placeholder")
	demo.release("recommendations")
	b.do(b.visible(`.recs-list`))
	for sel, want := range map[string]int{
		"mfe-placeholder":                 0, // replaced, not hidden
		`template[id^="mfe-async-"]`:      0, // moved out and removed
		".page-below > .recs":             1, // in place, in the grid
		".page-below > .placeholder-recs": 0,
	} {
		if n := b.count(sel); n != want {
			t.Errorf("%d elements match %s, want %d", n, sel, want)
		}
	}
	order := eval[string](b, `[...document.querySelector(".page-below").children].map(e => e.className).join(",")`)
	if order != "reviews,recs" {
		t.Errorf("grid children = %q, want reviews then recs", order)
	}
	// The demo runs under a strict Content-Security-Policy (no inline script
	// but those whose hash it lists): the mover script ran, and nothing was
	// refused.
	if p := b.seen(); len(p) > 0 {
		t.Errorf("problems under the strict CSP:\n%s", strings.Join(p, "\n"))
	}
	// And the policy is really enforced.
	if b.inlineRuns() {
		t.Error("an inline script not allowed by hash ran: the CSP is not in force")
	}
	b.screenshot("async-replaced")
}

func TestBrowserFallbackAndErrorPage(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	inst := start(t, nil)
	b.do(chromedp.Navigate(inst.base+"/product/1?fail=reviews"), b.visible(`section.fallback`))
	if text := b.text(`section.fallback`); !strings.Contains(text, "Reviews are taking a break") {
		t.Errorf("fallback text = %q", text)
	}
	if b.count("#product-title") != 1 || b.count(".recs") != 1 {
		t.Error("the rest of the page is not there around the failed fragment")
	}
	b.screenshot("fallback")

	b.do(chromedp.Navigate(inst.base+"/product/1?fail=product"), b.visible(`h1`))
	if text := b.text(`h1`); text != "This page is not available right now" {
		t.Errorf("error page h1 = %q", text)
	}
	b.screenshot("error-page")
}

func TestBrowserDemoPageIsClean(t *testing.T) {
	b := newBrowser(t, 1280, 1400)
	inst := start(t, nil)
	b.do(chromedp.Navigate(inst.base+"/productdetails"), b.visible(`.recs-list`),
		b.until(`document.readyState === "complete" && [...document.images].every(i => i.complete && i.naturalWidth > 0)`))
	if p := b.seen(); len(p) > 0 {
		t.Errorf("the demo page has problems:\n%s", strings.Join(p, "\n"))
	}
	if missingAlt := eval[int](b, `[...document.images].filter(i => !i.hasAttribute("alt")).length`); missingAlt > 0 {
		t.Errorf("%d images without alt", missingAlt)
	}
	for _, landmark := range []string{"header", "nav", "main", "footer"} {
		if b.count(landmark) == 0 {
			t.Errorf("no <%s> landmark", landmark)
		}
	}
	if unlabelled := eval[int](b, `[...document.querySelectorAll("input, select, textarea")].filter(e => !(e.labels && e.labels.length)).length`); unlabelled > 0 {
		t.Errorf("%d form fields without a label", unlabelled)
	}
	if m := b.misnamed(); len(m) > 0 {
		t.Errorf("aria-label or aria-labelledby where screen readers ignore it:\n%s", strings.Join(m, "\n"))
	}
	if name := b.axName(".review-stars"); name != "" && !strings.Contains(name, "out of 5 stars") || strings.Contains(name, "★") {
		t.Errorf("a review's stars are announced as %q, want \"N out of 5 stars\"", name)
	}
	if name := b.axName("button.cart"); name != "Cart 0 items" {
		t.Errorf("the cart button is announced as %q, want \"Cart 0 items\"", name)
	}
	b.screenshot("demo-desktop")
	b.do(chromedp.EmulateViewport(390, 1800, chromedp.EmulateMobile))
	b.do(chromedp.Reload(), b.visible(`.recs-list`))
	if eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`) {
		t.Error("the page scrolls sideways on a phone")
	}
	b.screenshot("demo-phone")
}

func TestBrowserAddToCartAcrossFragments(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	inst := start(t, nil)
	b.do(chromedp.Navigate(inst.base+"/product/3"), b.visible(`.recs-list`))
	if badge := b.text(`[data-cart-count]`); badge != "0" {
		t.Fatalf("cart badge before = %q", badge)
	}
	b.do(chromedp.Click(chromedp.CSS(`[data-add-to-cart]`)),
		b.until(`document.querySelector("[data-cart-count]").textContent === "1"`),
		b.visible(`[data-toast]`))
	if name := b.axName("button.cart"); name != "Cart 1 item" {
		t.Errorf("the cart button is announced as %q, want \"Cart 1 item\"", name)
	}
	if toast := b.text(`[data-toast]`); !strings.Contains(toast, "Latency") || !strings.Contains(toast, "cart") {
		t.Errorf("notification = %q", toast)
	}
	// The cart button says what is in the cart (the demo has no checkout).
	b.do(chromedp.Click(chromedp.CSS(`button.cart`)),
		b.until(`[...document.querySelectorAll("[data-toast]")].some(e => e.textContent.includes("Your cart holds 1 book"))`))
	b.screenshot("add-to-cart")
	b.do(chromedp.Click(chromedp.CSS(`[data-add-to-cart]`)),
		b.until(`document.querySelector("[data-cart-count]").textContent === "2"`))
	if name := b.axName("button.cart"); name != "Cart 2 items" {
		t.Errorf("the cart button is announced as %q, want \"Cart 2 items\"", name)
	}
}

func TestBrowserReviewForm(t *testing.T) {
	b := newBrowser(t, 1280, 1400)
	inst := start(t, nil)
	b.do(chromedp.Navigate(inst.base+"/product/4"), b.visible(`[data-review-form]`))
	b.do(
		chromedp.SendKeys(chromedp.CSS(`#review-name`), "Browser Test"),
		chromedp.SetValue(chromedp.CSS(`#review-rating`), "4"),
		chromedp.SendKeys(chromedp.CSS(`#review-text`), "Posted from headless Chromium."),
		chromedp.Click(chromedp.CSS(`.review-submit`)),
		b.visible(`.review-new`),
	)
	if text := b.text(`.review-new .review-text`); text != "Posted from headless Chromium." {
		t.Errorf("new review = %q", text)
	}
	if m := b.misnamed(); len(m) > 0 {
		t.Errorf("aria-label or aria-labelledby where screen readers ignore it, after posting:\n%s", strings.Join(m, "\n"))
	}
	// It was stored by the reviews fragment: a fresh page shows it.
	b.do(chromedp.Navigate(inst.base+"/product/4"), b.visible(`.review-list`))
	if list := b.text(`.review-list`); !strings.Contains(list, "Posted from headless Chromium.") {
		t.Errorf("the review is not on a fresh page: %q", list)
	}
	if p := b.seen(); len(p) > 0 {
		t.Errorf("problems:\n%s", strings.Join(p, "\n"))
	}
}

// untilReloaded polls js until it is true, across the page's reloads (an
// evaluation that a navigation cuts is tried again), within safety.
func (b *browser) untilReloaded(js string) {
	b.t.Helper()
	deadline := time.Now().Add(safety)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("never true: %s (last error: %v)", js, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// composer dev on a copy of the demo's templates: a page open in Chromium
// reloads itself when its template is saved, under the demo's strict
// policy; a broken save shows its problem on the page, and the fix takes
// it away.
func TestBrowserDevReload(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	dir := t.TempDir()
	files, err := fs.ReadDir(templates.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := templates.FS.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f.Name()), string(data))
	}
	inst := start(t, nil, "dev", "-templates", dir)
	b.open(inst.base + "/productdetails")
	b.do(b.visible(`#product-title`))
	eval[bool](b, `window.mfeBefore = true`)

	catalog := filepath.Join(dir, "catalog.html")
	orig, err := os.ReadFile(catalog)
	if err != nil {
		t.Fatal(err)
	}
	saved := time.Now()
	writeFile(t, catalog, strings.Replace(string(orig), "Skip to the book", "Skip to the new book", 1))
	b.untilReloaded(`document.querySelector(".skip-link") !== null && document.querySelector(".skip-link").textContent === "Skip to the new book" && window.mfeBefore === undefined`)
	t.Logf("save to the reloaded page showing it: %s", time.Since(saved))
	b.do(b.visible(`#product-title`))

	writeFile(t, catalog, strings.Replace(string(orig), `<micro-frontend id="product" errorbehaviour="error"/>`, `<micro-frontend errorbehaviour="error"/>`, 1))
	b.untilReloaded(`document.querySelector("[data-mfe-dev-problems]") !== null && document.querySelector("[data-mfe-dev-problems]").textContent.includes("catalog.html:13: <micro-frontend> without id")`)
	b.screenshot("dev-refused-save")

	writeFile(t, catalog, strings.Replace(string(orig), "Skip to the book", "Skip to the fixed book", 1))
	b.untilReloaded(`document.querySelector(".skip-link") !== null && document.querySelector(".skip-link").textContent === "Skip to the fixed book" && document.querySelector("[data-mfe-dev-problems]") === null`)
	b.do(b.visible(`#product-title`))
	if p := b.seen(); len(p) > 0 {
		t.Errorf("the browser saw problems (a policy violation is one):\n%s", strings.Join(p, "\n"))
	}
}
