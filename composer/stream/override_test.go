package stream_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// testTokenHeader names, in a test request, the token its page carries in
// its context (as the server's middleware puts a verified one there).
const testTokenHeader = "X-Test-Token"

// withOverrides lets e's transport take override requests (on loopback,
// as the fragments).
func withOverrides(e *env) {
	h := fetch.NewHTTP()
	e.t.Cleanup(h.Close)
	e.composer.Fetch = &fetch.Mux{HTTP: h, Override: h}
}

// tokenPage is e.page whose requests carry tokens[X-Test-Token] in their
// context.
func (e *env) tokenPage(src string, tokens map[string]*override.Token) string {
	e.t.Helper()
	tpl, err := template.Compile("test.html", []byte(src))
	if err != nil {
		e.t.Fatal(err)
	}
	e.composer.Registry = registry.New(e.reg)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := tokens[r.Header.Get(testTokenHeader)]; t != nil {
			r = r.WithContext(override.NewContext(r.Context(), t))
		}
		e.composer.Serve(w, r, &stream.Page{Template: tpl, RequestID: "req-1"})
	}))
	e.t.Cleanup(s.Close)
	return s.URL
}

// countingServer is a fragment server that counts its requests and keeps
// the last one's headers and query.
type countingServer struct {
	URL  string
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request
}

func newCountingServer(t *testing.T, cc, body string) *countingServer {
	c := &countingServer{}
	c.URL = fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		c.mu.Lock()
		c.last = r
		c.mu.Unlock()
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		write(w, body)
	})
	return c
}

func (c *countingServer) lastRequest() *http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// An override points one request's fragment at another endpoint, with the
// replaced entry's header policy; the page is private, no-store and says
// which fragments were overridden. Other visitors get the registry's
// endpoint, and the fragment cache never mixes the two.
func TestOverrideReplacesTheEndpointForItsRequestOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withOverrides(e)
	withCache(e)
	reviews := newCountingServer(t, "public, max-age=60", "[registry reviews]")
	preview := newCountingServer(t, "public, max-age=60", "[preview reviews]")
	header := newCountingServer(t, "public, max-age=60", "[header]")
	e.register("reviews", registry.Entry{Endpoint: reviews.URL, ForwardHeaders: []string{"X-Tenant"}})
	e.register("header", registry.Entry{Endpoint: header.URL})
	tok := &override.Token{Fragments: map[string]string{"reviews": preview.URL + "/preview?build=7"}, Expires: time.Now().Add(time.Hour)}
	// Required: the page's header waits for them, so a visitor's page is
	// known shareable.
	url := e.tokenPage(`<body><micro-frontend id=header errorbehaviour=error/><micro-frontend id=reviews errorbehaviour=error/></body>`, map[string]*override.Token{"dev": tok})

	visitor := func(want string) {
		t.Helper()
		resp, body := get(t, url+"/?page=2", nil)
		if !strings.Contains(body, want) || !strings.Contains(body, "[header]") {
			t.Errorf("visitor's page: %q, want %q", body, want)
		}
		if cc := resp.Header.Get("Cache-Control"); !shared(cc) {
			t.Errorf("visitor's page: Cache-Control %q, want a shared one", cc)
		}
		if v := resp.Header.Get(stream.OverriddenHeader); v != "" {
			t.Errorf("visitor's page: %s %q", stream.OverriddenHeader, v)
		}
	}
	developer := func() {
		t.Helper()
		h := http.Header{testTokenHeader: {"dev"}, "X-Tenant": {"acme"}, "X-Secret": {"s3cret"}}
		resp, body := get(t, url+"/?page=2", h)
		if !strings.Contains(body, "[preview reviews]") || strings.Contains(body, "[registry reviews]") || !strings.Contains(body, "[header]") {
			t.Errorf("developer's page: %q", body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("developer's page: Cache-Control %q, want private, no-store", cc)
		}
		if v := resp.Header.Get(stream.OverriddenHeader); v != "reviews" {
			t.Errorf("developer's page: %s %q, want reviews", stream.OverriddenHeader, v)
		}
	}
	visitor("[registry reviews]") // stored in the fragment cache
	developer()
	developer() // the preview's answer was not stored: asked again
	visitor("[registry reviews]")
	if got := preview.hits.Load(); got != 2 {
		t.Errorf("the preview got %d requests, want 2 (never cached)", got)
	}
	if got := reviews.hits.Load(); got != 1 {
		t.Errorf("the registry's endpoint got %d requests, want 1 (the second visitor's from the cache, none for the developer)", got)
	}
	r := preview.lastRequest()
	if r == nil {
		t.Fatal("the preview was never asked")
	}
	if r.URL.Path != "/preview" || r.URL.Query().Get("build") != "7" || r.URL.Query().Get("page") != "2" {
		t.Errorf("the preview was asked %s", r.URL)
	}
	if r.Header.Get("X-Tenant") != "acme" || r.Header.Get("X-Secret") != "" || r.Header.Get("X-Request-Id") != "req-1" {
		t.Errorf("the preview got headers %v: want the entry's forwardHeaders (X-Tenant) and the defaults only", r.Header)
	}
}

// An override keeps the replaced entry's cookie policy: a required
// overridden fragment's Set-Cookie reaches the page only when the entry
// allows it.
func TestOverrideKeepsTheEntrysCookiePolicy(t *testing.T) {
	t.Parallel()
	for _, allowed := range []bool{true, false} {
		e := newEnv(t)
		withOverrides(e)
		preview := fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "preview", Value: "1"})
			write(w, "[preview]")
		})
		e.register("session", registry.Entry{Endpoint: "http://127.0.0.1:1/never", SetCookie: allowed})
		tok := &override.Token{Fragments: map[string]string{"session": preview}, Expires: time.Now().Add(time.Hour)}
		url := e.tokenPage(`<micro-frontend id=session errorbehaviour=error/>`, map[string]*override.Token{"dev": tok})
		resp, body := get(t, url, http.Header{testTokenHeader: {"dev"}})
		if !strings.Contains(body, "[preview]") {
			t.Fatalf("page %q", body)
		}
		if got := resp.Header.Get("Set-Cookie") != ""; got != allowed {
			t.Errorf("setCookie %v: the page's Set-Cookie %q", allowed, resp.Header.Get("Set-Cookie"))
		}
	}
}

// A token that overrides none of the page's fragments changes nothing:
// the page is the normal one, and cacheable.
func TestOverrideOfAnotherFragmentLeavesThePageShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withOverrides(e)
	a := newCountingServer(t, "public, max-age=60", "[A]")
	e.register("a", registry.Entry{Endpoint: a.URL})
	tok := &override.Token{Fragments: map[string]string{"other": a.URL + "/x"}, Expires: time.Now().Add(time.Hour)}
	url := e.tokenPage(`<micro-frontend id=a errorbehaviour=error/>`, map[string]*override.Token{"dev": tok})
	resp, body := get(t, url, http.Header{testTokenHeader: {"dev"}})
	if body != "[A]" || !shared(resp.Header.Get("Cache-Control")) || resp.Header.Get(stream.OverriddenHeader) != "" {
		t.Errorf("page %q, Cache-Control %q, %s %q", body, resp.Header.Get("Cache-Control"), stream.OverriddenHeader, resp.Header.Get(stream.OverriddenHeader))
	}
}

var (
	beginComment = regexp.MustCompile(`<!-- mfe:begin id=(\S+) version=(\S+) kind=(\S+) -->`)
	endComment   = regexp.MustCompile(`<!-- mfe:end id=(\S+) status=(\S+) outcome=(\S+) cache=(\S+) breaker=(\S+) headers=(\S+) last-byte=(\S+) -->`)
	millis       = regexp.MustCompile(`^[0-9]+\.[0-9]ms$`)
)

// debugEnv is a page of a sync, an async and an unregistered fragment,
// behind a fragment cache and the breakers, as run.go builds them.
func debugEnv(t *testing.T) (e *env, url string, a *countingServer) {
	e = newEnv(t)
	withOverrides(e)
	b := breaker.New(e.composer.Fetch, breaker.Options{})
	e.composer.Breakers = b
	c := cache.New(b, 1<<20, nil)
	t.Cleanup(c.Wait)
	e.composer.Fetch = c
	a = newCountingServer(t, "public, max-age=60", "<p>A</p>")
	e.register("a", registry.Entry{Endpoint: a.URL})
	e.register("b", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) { write(w, "<p>B</p>") })})
	debug := &override.Token{Debug: true, Expires: time.Now().Add(time.Hour)}
	plain := &override.Token{Fragments: map[string]string{"x": a.URL}, Expires: time.Now().Add(time.Hour)}
	url = e.tokenPage(`<html><head><title>t</title></head><body><micro-frontend id=a/><micro-frontend id=b async>wait</micro-frontend><micro-frontend id=c>fallback C</micro-frontend></body></html>`,
		map[string]*override.Token{"debug": debug, "plain": plain})
	return e, url, a
}

// With a debug token, ?_debug=1 marks each slot with comments naming its
// figures, adds the overlay script, keeps the page out of every cache,
// and does not tell the fragments.
func TestDebugViewMarksEverySlot(t *testing.T) {
	t.Parallel()
	_, url, a := debugEnv(t)
	for i, wantCache := range []string{"miss", "hit"} {
		resp, body := get(t, url+"/?x=1&_debug=1", http.Header{testTokenHeader: {"debug"}})
		if cc := resp.Header.Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("Cache-Control %q, want private, no-store", cc)
		}
		if resp.Header.Get(stream.DebugHeader) != "on" {
			t.Errorf("%s %q", stream.DebugHeader, resp.Header.Get(stream.DebugHeader))
		}
		if n := strings.Count(body, "<script>"+stream.OverlayScript+"</script>"); n != 1 {
			t.Errorf("overlay script %d times in %s", n, body)
		}
		if i := strings.Index(body, stream.OverlayScript); i < 0 || i > strings.Index(body, "</head>") {
			t.Errorf("the overlay script is not in the head")
		}
		begins, ends := beginComment.FindAllStringSubmatch(body, -1), endComment.FindAllStringSubmatch(body, -1)
		if len(begins) != 3 || len(ends) != 3 {
			t.Fatalf("%d begin and %d end comments in %s", len(begins), len(ends), body)
		}
		want := map[string][2][]string{
			"a": {{"-", "url"}, {"200", "ok", wantCache, "closed"}},
			"b": {{"-", "url"}, {"200", "ok", "bypass", "closed"}}, // no Cache-Control: not stored
			"c": {{"-", "none"}, {"-", "unregistered", "none", "none", "-", "-"}},
		}
		// Document order: b, async, is written at the end of the body.
		for j, id := range []string{"a", "c", "b"} {
			if begins[j][1] != id || ends[j][1] != id {
				t.Errorf("comment pair %d: %q / %q, want %s", j, begins[j][0], ends[j][0], id)
				continue
			}
			w := want[id]
			if got := begins[j][2:]; !slices.Equal(got, w[0]) {
				t.Errorf("%s: begin %q, want version and kind %q", id, begins[j][0], w[0])
			}
			if got := ends[j][2 : 2+len(w[1])]; !slices.Equal(got, w[1]) {
				t.Errorf("request %d, %s: end %q, want %q", i, id, ends[j][0], w[1])
			}
			if id != "c" && (!millis.MatchString(ends[j][6]) || !millis.MatchString(ends[j][7])) {
				t.Errorf("%s: timings in %q", id, ends[j][0])
			}
		}
		// Each comment pair encloses its slot's content: the async one
		// inside its template, so that it moves into place with it.
		for _, m := range []string{
			`<!-- mfe:begin id=a version=- kind=url --><p>A</p><!-- mfe:end id=a `,
			`-content"><!-- mfe:begin id=b version=- kind=url --><p>B</p><!-- mfe:end id=b `,
			`<!-- mfe:begin id=c version=- kind=none -->fallback C<!-- mfe:end id=c `,
		} {
			if !strings.Contains(body, m) {
				t.Errorf("want %q in %s", m, body)
			}
		}
		if r := a.lastRequest(); r == nil || r.URL.RawQuery != "x=1" {
			t.Errorf("the fragment was asked %v, want with query x=1", r)
		}
	}
}

// Without a debug token, ?_debug=1 shows nothing more; whoever asks, the
// parameter never reaches a fragment and the page is never stored (a CDN
// would otherwise answer a developer's ?_debug=1 with its copy). A debug
// token without ?_debug=1 changes nothing.
func TestDebugViewNeedsADebugToken(t *testing.T) {
	t.Parallel()
	_, url, a := debugEnv(t)
	for _, c := range []struct {
		name, token, query string
		shared             bool
	}{
		{"no token", "", "?x=1&_debug=1", false},
		{"token without debug", "plain", "?x=1&_debug=1", false},
		{"debug token, _debug=0", "debug", "?x=1&_debug=0", false},
		{"debug token, _DEBUG=1", "debug", "?x=1&_DEBUG=1", false},
		{"debug token, no _debug", "debug", "?x=1", true},
	} {
		h := http.Header{}
		if c.token != "" {
			h.Set(testTokenHeader, c.token)
		}
		resp, body := get(t, url+"/"+c.query, h)
		if strings.Contains(body, "mfe:") || strings.Contains(body, stream.OverlayScript) || resp.Header.Get(stream.DebugHeader) != "" {
			t.Errorf("%s: debug view shown: %s", c.name, body)
		}
		if !strings.Contains(body, "<p>A</p>") {
			t.Errorf("%s: page %s", c.name, body)
		}
		cc := resp.Header.Get("Cache-Control")
		// Shared or not as the fragments' answers say (b's says no-store).
		if c.shared && cc == "private, no-store" || !c.shared && cc != "private, no-store" {
			t.Errorf("%s: Cache-Control %q", c.name, cc)
		}
		if r := a.lastRequest(); r != nil && r.URL.RawQuery != "x=1" {
			t.Errorf("%s: the fragment was asked with query %q, want x=1", c.name, r.URL.RawQuery)
		}
	}
}

// Values in the debug comments cannot close the comment.
func TestDebugCommentValues(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"reviews":       "reviews",
		"":              "-",
		"a--><b>":       "a-___b_",
		"x --!> y":      "x_-____y",
		"a---b":         "a-_-b",
		"v1.2_beta:1/@": "v1.2_beta:1/@",
	} {
		got := stream.CommentValue(in)
		if got != want || strings.Contains(got, "--") || strings.ContainsAny(got, "<> !") {
			t.Errorf("CommentValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// The token is the composer's: no fragment receives it, even one whose
// entry forwards Cookie (it gets the other cookies) or the header.
func TestTokenIsNeverForwarded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withOverrides(e)
	a := newCountingServer(t, "", "[A]")
	preview := newCountingServer(t, "", "[P]")
	e.register("a", registry.Entry{Endpoint: a.URL, ForwardHeaders: []string{"Cookie", "Mfe-Override"}})
	e.register("p", registry.Entry{Endpoint: "http://127.0.0.1:1/", ForwardHeaders: []string{"Cookie", "Mfe-Override"}})
	tok := &override.Token{Fragments: map[string]string{"p": preview.URL}, Expires: time.Now().Add(time.Hour)}
	url := e.tokenPage(`<micro-frontend id=a errorbehaviour=error/><micro-frontend id=p errorbehaviour=error/>`, map[string]*override.Token{"dev": tok})
	for _, cookie := range []string{"session=1; mfe-override=TOKEN; theme=dark", "mfe-override=TOKEN"} {
		_, body := get(t, url, http.Header{testTokenHeader: {"dev"}, "Cookie": {cookie}, "Mfe-Override": {"TOKEN"}})
		if body != "[A][P]" {
			t.Fatalf("page %q", body)
		}
		for name, s := range map[string]*countingServer{"fragment": a, "override": preview} {
			r := s.lastRequest()
			if strings.Contains(strings.Join(r.Header.Values("Cookie"), ";"), "TOKEN") || r.Header.Get("Mfe-Override") != "" {
				t.Errorf("the %s got the token: %v", name, r.Header)
			}
			if want := strings.Contains(cookie, "session"); want != (r.Header.Get("Cookie") == "session=1; theme=dark") {
				t.Errorf("the %s got Cookie %q", name, r.Header.Values("Cookie"))
			}
		}
	}
}
