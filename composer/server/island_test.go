package server_test

import (
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/island"
	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
)

const (
	islandKeyA   = "island-key-a-0123456789abcdef0123456789"
	islandKeyB   = "island-key-b-0123456789abcdef0123456789"
	islandOverKy = "override-key-0123456789abcdef0123456789"
)

// islandRig is a shop: a public product fragment and a basket that reads
// the visitor's cookie, the basket in a client slot.
type islandRig struct {
	srv  *server.Server
	ts   *httptest.Server
	logs *logbuf.Buffer
	ring *island.Ring

	mu   sync.Mutex
	cart []*http.Request // the basket's requests

	held, release chan struct{} // a product request with ?hold= waits
}

var islandTemplates = map[string]string{
	"routes.json": `{"/p/{id}": "product.html"}`,
	"product.html": `<!doctype html><html><head><title>p</title></head><body><div id="main">` +
		`<micro-frontend id="product" errorbehaviour="error"/>` +
		`<micro-frontend id="cart" client><span class="skeleton">basket…</span></micro-frontend>` +
		`</div></body></html>`,
}

func newIslandRig(t *testing.T, ring *island.Ring, maxPages int) *islandRig {
	t.Helper()
	rig := &islandRig{ring: ring, held: make(chan struct{}, 1), release: make(chan struct{})}
	product := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			rig.held <- struct{}{}
			select {
			case <-rig.release:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write([]byte(`<h1>Product ` + html.EscapeString(r.URL.Query().Get("id")) + `</h1>`))
	}))
	t.Cleanup(product.Close)
	cart := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.mu.Lock()
		rig.cart = append(rig.cart, r)
		rig.mu.Unlock()
		c, _ := r.Cookie("basket")
		w.Header().Set("Cache-Control", "private, max-age=0")
		w.Header().Add("Link", `</cart.css>; rel=stylesheet, </cart.js>; rel=preload; as=script; asset-type=script`)
		v := ""
		if c != nil {
			v = c.Value
		}
		w.Write([]byte(`<p class="basket" id="main">` + html.EscapeString(v) + ` items</p><script>window.pwned=1</script>`))
	}))
	t.Cleanup(cart.Close)
	reg := registry.New(map[string]registry.Entry{
		"product": {Endpoint: product.URL},
		"cart":    {Endpoint: cart.URL, ForwardHeaders: []string{"Cookie"}},
	})
	rig.logs = &logbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(rig.logs, nil))
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	c := &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log, Islands: ring}
	rig.srv = server.New(server.Options{Log: log, Composer: c, Registry: reg, CSP: "script-src 'strict-dynamic' {hashes}; connect-src 'self'",
		MaxPages: maxPages, OverrideKey: []byte(islandOverKy)})
	rig.srv.SetTemplates(buildSet(t, islandTemplates))
	rig.ts = httptest.NewServer(rig.srv)
	t.Cleanup(rig.ts.Close)
	return rig
}

func (rig *islandRig) cartHits() int {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	return len(rig.cart)
}

func islandRing(t *testing.T, sign string, keys map[string]string) *island.Ring {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range keys {
		m[k] = []byte(v)
	}
	r, err := island.NewRing(sign, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var islandSrc = regexp.MustCompile(`<mfe-island data-fragment="cart" data-src="([^"]*)">`)

// islandURL is the island URL the page at path carries.
func (rig *islandRig) islandURL(t *testing.T, path string) string {
	t.Helper()
	resp, body := do(t, "GET", rig.ts.URL+path, nil)
	m := islandSrc.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("page %s: %d, no island in\n%s", path, resp.StatusCode, body)
	}
	return html.UnescapeString(m[1])
}

func sameOrigin(extra ...string) http.Header {
	h := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Dest": {"empty"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func checkIslandHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	h := resp.Header
	if h.Get("Content-Type") != "application/json" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Cross-Origin-Resource-Policy") != "same-origin" || !strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Errorf("island headers: %v", h)
	}
}

// A page with a public product and a client-slot basket whose entry
// forwards Cookie is public with s-maxage (the basket is not asked), and
// holds the basket's skeleton and the island script.
func TestClientSlotPageIsPublic(t *testing.T) {
	t.Parallel()
	rig := newIslandRig(t, islandRing(t, "a", map[string]string{"a": islandKeyA}), 0)
	resp, body := do(t, "GET", rig.ts.URL+"/p/42?ref=mail", http.Header{"Cookie": {"basket=3"}})
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public") || !strings.Contains(cc, "s-maxage=") {
		t.Errorf("Cache-Control %q, want public with s-maxage", cc)
	}
	if !strings.Contains(body, "Product 42") || !strings.Contains(body, `<span class="skeleton">basket…</span></mfe-island><script>`) {
		t.Errorf("page:\n%s", body)
	}
	if strings.Contains(body, "items") || rig.cartHits() != 0 {
		t.Errorf("the basket was fetched with the page (%d requests)", rig.cartHits())
	}
	m := islandSrc.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no island in\n%s", body)
	}
	// Its URL lives as long as a cache may hand out the page: here the
	// 10-minute floor (s-maxage is 60) plus 5 minutes of clock skew.
	_, q, _ := strings.Cut(html.UnescapeString(m[1]), "?")
	c, err := rig.ring.Verify(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if life := time.Until(c.Expires); life < 15*time.Minute-5*time.Second || life > 15*time.Minute+time.Second {
		t.Errorf("the island URL lives %v, want 15m", life)
	}
}

// The island answer is the basket, guarded as a server-side slot is, as
// JSON that no browser renders; the fragment got what the slot would have
// had: the visitor's cookie, the slot identity, route parameters and query.
func TestIslandAnswer(t *testing.T) {
	t.Parallel()
	rig := newIslandRig(t, islandRing(t, "a", map[string]string{"a": islandKeyA}), 0)
	u := rig.islandURL(t, "/p/42?ref=mail")
	resp, body := do(t, "GET", rig.ts.URL+u, sameOrigin("Cookie", "basket=3"))
	if resp.StatusCode != 200 {
		t.Fatalf("island: %d %s", resp.StatusCode, body)
	}
	checkIslandHeaders(t, resp)
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private") {
		t.Errorf("Cache-Control %q, want private (the basket is)", cc)
	}
	var a stream.IslandAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if !strings.Contains(a.HTML, "3 items") || strings.Contains(a.HTML, `id="main"`) || strings.Contains(a.HTML, "<script>window") {
		t.Errorf("html not guarded as a slot's: %q", a.HTML)
	}
	if !strings.Contains(a.Head, `<link rel="stylesheet" href="/cart.css">`) || !strings.Contains(a.Tail, `src="/cart.js"`) {
		t.Errorf("assets: head %q tail %q", a.Head, a.Tail)
	}
	if rig.cartHits() != 1 {
		t.Fatalf("basket requests: %d", rig.cartHits())
	}
	r := rig.cart[0]
	if r.Header.Get("Cookie") != "basket=3" || r.Header.Get(fetch.SlotHeader) != "s1" ||
		r.URL.Query().Get("id") != "42" || r.URL.Query().Get("ref") != "mail" {
		t.Errorf("the basket got %v %v", r.URL, r.Header)
	}
}

// Refused before the fragment is asked: 404, no-store, island headers.
func TestIslandRefusals(t *testing.T) {
	t.Parallel()
	rig := newIslandRig(t, islandRing(t, "a", map[string]string{"a": islandKeyA}), 0)
	good := rig.islandURL(t, "/p/42?ref=mail")
	_, q, _ := strings.Cut(good, "?")
	claims, err := rig.ring.Verify(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	edit := func(name, val string) string {
		v, _ := url.ParseQuery(q)
		v.Set(name, val)
		return island.Path + "?" + v.Encode()
	}
	expired := claims
	expired.Expires = time.Now().Add(-time.Second)
	otherSlot := claims
	otherSlot.Slot = 0 // the product's slot, signed: not a client slot
	oldKey := islandRing(t, "old", map[string]string{"old": islandKeyB})
	for name, c := range map[string]struct {
		url    string
		header http.Header
	}{
		"unsigned":          {island.Path + "?f=cart&t=product.html&s=1", sameOrigin()},
		"forged":            {edit("sig", strings.Repeat("A", 43)), sameOrigin()},
		"expired":           {rig.ring.URL(expired), sameOrigin()},
		"re-parameterised":  {edit("q", "id=43&ref=mail"), sameOrigin()},
		"other route param": {edit("r", "id=43"), sameOrigin()},
		"other slot edited": {edit("s", "0"), sameOrigin()},
		"other slot signed": {rig.ring.URL(otherSlot), sameOrigin()},
		"old key":           {oldKey.URL(claims), sameOrigin()},
		"cross-site":        {good, sameOrigin("Sec-Fetch-Site", "cross-site")},
		"navigation":        {good, sameOrigin("Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")},
		"same-site":         {good, sameOrigin("Sec-Fetch-Site", "same-site")},
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := do(t, "GET", rig.ts.URL+c.url, c.header)
			if resp.StatusCode != 404 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%d %q, want 404 no-store", resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
			checkIslandHeaders(t, resp)
		})
	}
	if n := rig.cartHits(); n != 0 {
		t.Errorf("the basket was asked %d times for refused requests", n)
	}
	// A request without Sec-Fetch-* (not a browser that sends them) is
	// answered.
	if resp, body := do(t, "GET", rig.ts.URL+good, nil); resp.StatusCode != 200 {
		t.Errorf("without Sec-Fetch-*: %d %s", resp.StatusCode, body)
	}
}

// During a rotation, a task that signs with the new key and one that
// still signs with the old accept each other's islands.
func TestIslandKeyRotation(t *testing.T) {
	t.Parallel()
	keys := map[string]string{"old": islandKeyA, "new": islandKeyB}
	oldTask := newIslandRig(t, islandRing(t, "old", keys), 0)
	newTask := newIslandRig(t, islandRing(t, "new", keys), 0)
	for _, c := range []struct{ signer, server *islandRig }{{oldTask, newTask}, {newTask, oldTask}} {
		u := c.signer.islandURL(t, "/p/1")
		if resp, body := do(t, "GET", c.server.ts.URL+u, sameOrigin()); resp.StatusCode != 200 {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	}
}

// After a republish, an island is answered only while its slot still
// names the signed fragment.
func TestIslandAfterRepublish(t *testing.T) {
	t.Parallel()
	rig := newIslandRig(t, islandRing(t, "a", map[string]string{"a": islandKeyA}), 0)
	u := rig.islandURL(t, "/p/42")
	files := map[string]string{}
	for k, v := range islandTemplates {
		files[k] = v
	}
	// The same template, the basket's slot moved behind another.
	files["product.html"] = strings.Replace(files["product.html"], `<micro-frontend id="product" errorbehaviour="error"/>`, `<micro-frontend id="product" errorbehaviour="error"/><micro-frontend id="product"/>`, 1)
	rig.srv.SetTemplates(buildSet(t, files))
	if resp, _ := do(t, "GET", rig.ts.URL+u, sameOrigin()); resp.StatusCode != 404 {
		t.Errorf("after the slot moved: %d, want 404", resp.StatusCode)
	}
	rig.srv.SetTemplates(buildSet(t, islandTemplates))
	if resp, _ := do(t, "GET", rig.ts.URL+u, sameOrigin()); resp.StatusCode != 200 {
		t.Errorf("with the slot back: %d, want 200", resp.StatusCode)
	}
	if n := rig.cartHits(); n != 1 {
		t.Errorf("basket requests %d, want 1", n)
	}
}

// Overrides and the debug view apply to islands (_debug unsigned), and
// such an answer is private, no-store.
func TestIslandOverrideAndDebug(t *testing.T) {
	t.Parallel()
	rig := newIslandRig(t, islandRing(t, "a", map[string]string{"a": islandKeyA}), 0)
	tok, err := override.Sign([]byte(islandOverKy), override.Token{Debug: true, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	u := rig.islandURL(t, "/p/42?_debug=1")
	if !strings.HasSuffix(u, "&_debug=1") {
		t.Fatalf("the debug page's island URL %q has no _debug", u)
	}
	resp, body := do(t, "GET", rig.ts.URL+u, sameOrigin(override.Header, tok))
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "private, no-store" || !strings.Contains(body, "mfe:begin id=cart") {
		t.Errorf("debug island: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
}

// With no key, a client slot is its fallback, and the island route
// refuses.
func TestClientSlotWithoutKeys(t *testing.T) {
	t.Parallel()
	rig := newIslandRig(t, nil, 0)
	resp, body := do(t, "GET", rig.ts.URL+"/p/42", nil)
	if resp.StatusCode != 200 || strings.Contains(body, "mfe-island") || !strings.Contains(body, `<span class="skeleton">basket…</span></div>`) {
		t.Errorf("page without keys:\n%s", body)
	}
	if !strings.Contains(rig.logs.String(), "COMPOSER_ISLAND_KEYS is not set") {
		t.Errorf("logs do not say so:\n%s", rig.logs.String())
	}
	signed := islandRing(t, "a", map[string]string{"a": islandKeyA}).URL(island.Claims{Fragment: "cart", Template: "product.html", Slot: 1, Path: "/p/42", Expires: time.Now().Add(time.Hour)})
	if resp, _ := do(t, "GET", rig.ts.URL+signed, sameOrigin()); resp.StatusCode != 404 || rig.cartHits() != 0 {
		t.Errorf("island without keys: %d", resp.StatusCode)
	}
}

// Island requests count against MaxPages and are shed as pages are.
func TestIslandsAreShed(t *testing.T) {
	t.Parallel()
	rig := newIslandRig(t, islandRing(t, "a", map[string]string{"a": islandKeyA}), 1)
	u := rig.islandURL(t, "/p/42")
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(rig.ts.URL + "/p/1?hold=1")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-rig.held
	resp, _ := do(t, "GET", rig.ts.URL+u, sameOrigin())
	close(rig.release)
	<-done
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("island beside a page at the cap: %d %v", resp.StatusCode, resp.Header)
	}
	checkIslandHeaders(t, resp)
	if n := rig.cartHits(); n != 0 {
		t.Errorf("the basket was asked for a shed island")
	}
	// The page's handler ends a moment after its client has read it all.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, _ := do(t, "GET", rig.ts.URL+u, sameOrigin())
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("island once the page is done: %d", resp.StatusCode)
		}
	}
}

// A client-fallback slot whose server-side fetch fails holds its fallback
// and its island, in place (a sync slot) or moved with the async content;
// the island answers once the fragment does. A failed slot without
// client-fallback, or any slot without keys, is its fallback alone.
func TestClientFallbackSlots(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 { // the page's three requests fail
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`<p class="live">live</p>`))
	}))
	t.Cleanup(flaky.Close)
	reg := registry.New(map[string]registry.Entry{"flaky": {Endpoint: flaky.URL}})
	for _, ring := range []*island.Ring{islandRing(t, "a", map[string]string{"a": islandKeyA}), nil} {
		calls.Store(0)
		h := fetch.NewHTTP()
		t.Cleanup(h.Close)
		log := slog.New(slog.DiscardHandler)
		s := server.New(server.Options{Log: log, Registry: reg, Composer: &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log, Islands: ring}})
		s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<body>` +
			`<micro-frontend id="flaky" client-fallback><i>sync</i></micro-frontend>` +
			`<micro-frontend id="flaky" client-fallback async><i>async</i></micro-frontend>` +
			`<micro-frontend id="flaky"><i>plain</i></micro-frontend></body>`}))
		ts := httptest.NewServer(s)
		t.Cleanup(ts.Close)
		_, body := do(t, "GET", ts.URL+"/", nil)
		islands := regexp.MustCompile(`<mfe-island data-fragment="flaky" data-src="([^"]*)"><i>(\w+)</i></mfe-island><script>`).FindAllStringSubmatch(body, -1)
		if ring == nil {
			if len(islands) != 0 || !strings.Contains(body, "<i>sync</i>") || !strings.Contains(body, "<i>plain</i>") {
				t.Errorf("without keys:\n%s", body)
			}
			continue
		}
		if len(islands) != 2 || islands[0][2] != "sync" || islands[1][2] != "async" || !strings.Contains(body, "<i>plain</i>") {
			t.Fatalf("page:\n%s", body)
		}
		if !regexp.MustCompile(`<template id="mfe-async-1-[^"]*-content"><mfe-island`).MatchString(body) {
			t.Errorf("the async slot's island is not in its template:\n%s", body)
		}
		resp, ans := do(t, "GET", ts.URL+html.UnescapeString(islands[0][1]), sameOrigin())
		if resp.StatusCode != 200 || !strings.Contains(ans, "live") {
			t.Errorf("island: %d %s", resp.StatusCode, ans)
		}
	}
}

// An island of a fragment with canary versions is answered as a page
// would be: the version's cookie set, and private (it varies on it),
// however public the fragment's own answer.
func TestIslandCanaryIsPrivate(t *testing.T) {
	t.Parallel()
	pub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write([]byte(`<p>reco</p>`))
	}))
	t.Cleanup(pub.Close)
	reg := registry.New(map[string]registry.Entry{"reco": {Endpoint: pub.URL, Versions: []registry.Version{
		{Name: "b", Endpoint: pub.URL + "/b", Weight: 50}}}})
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	log := slog.New(slog.DiscardHandler)
	ring := islandRing(t, "a", map[string]string{"a": islandKeyA})
	s := server.New(server.Options{Log: log, Registry: reg, Composer: &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log, Islands: ring}})
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<body><micro-frontend id="reco" client/></body>`}))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	_, body := do(t, "GET", ts.URL+"/", nil)
	m := regexp.MustCompile(`data-src="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no island:\n%s", body)
	}
	resp, _ := do(t, "GET", ts.URL+html.UnescapeString(m[1]), sameOrigin())
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || !strings.HasPrefix(cc, "private") || len(resp.Header.Values("Set-Cookie")) == 0 {
		t.Fatalf("canary island: %d Cache-Control %q Set-Cookie %q", resp.StatusCode, cc, resp.Header.Values("Set-Cookie"))
	}
	// The visitor comes back with the version's cookie: no cookie is
	// set, and the answer still varies on it.
	cookie, _, _ := strings.Cut(resp.Header.Get("Set-Cookie"), ";")
	resp, _ = do(t, "GET", ts.URL+html.UnescapeString(m[1]), sameOrigin("Cookie", cookie))
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || !strings.HasPrefix(cc, "private") {
		t.Errorf("canary island with its cookie: %d Cache-Control %q", resp.StatusCode, cc)
	}
}
