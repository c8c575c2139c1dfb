package stream_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/html"

	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

func TestMain(m *testing.M) {
	// Fetch workers wait for the next page's fragments; a worker still
	// inside a fetch has a deeper stack and is reported.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/ssr-mfe/composer/composer/stream.(*workers).work"))
}

// safety bounds how long a test waits for something that must happen; a
// buffering composer deadlocks and fails here. It is never a timing claim.
const safety = 20 * time.Second

// fragmentServer starts a loopback fragment server.
func fragmentServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

type env struct {
	t        *testing.T
	reg      map[string]registry.Entry
	composer *stream.Composer
	log      *logbuf.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	e := &env{t: t, reg: map[string]registry.Entry{}, log: &logbuf.Buffer{}}
	e.composer = &stream.Composer{
		Fetch: &fetch.Mux{HTTP: h},
		Log:   slog.New(slog.NewTextHandler(e.log, nil)),
		// Held fragments wait for the test, however slow the machine;
		// tests of deadlines set their own.
		Timeout: time.Minute,
	}
	return e
}

func (e *env) register(id string, entry registry.Entry) { e.reg[id] = entry }

// registerCase registers id for a table case: a fragment server running
// handler (if any), and the entry that entry makes of its URL (if given);
// an entry without endpoint leaves id unregistered.
func (e *env) registerCase(t *testing.T, id string, handler http.HandlerFunc, entry func(*testing.T, string) registry.Entry) {
	t.Helper()
	var url string
	if handler != nil {
		url = fragmentServer(t, handler)
	}
	en := registry.Entry{Endpoint: url}
	if entry != nil {
		en = entry(t, url)
	}
	if en.Endpoint != "" {
		e.register(id, en)
	}
}

// page compiles src and serves it at "/" on a loopback server, returning
// the page URL.
func (e *env) page(src string, params map[string]string) string {
	e.t.Helper()
	tpl, err := template.Compile("test.html", []byte(src))
	if err != nil {
		e.t.Fatal(err)
	}
	e.composer.Registry = registry.New(e.reg)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.composer.Serve(w, r, &stream.Page{
			Template:  tpl,
			Params:    params,
			RequestID: "req-1",
			ErrorPage: func(status int) []byte {
				if status == http.StatusNotFound {
					return []byte("custom not found")
				}
				return nil
			},
		})
	}))
	e.t.Cleanup(s.Close)
	return s.URL
}

func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read page: %v", err)
	}
	return resp, string(b)
}

// reader reads a streamed body up to expected markers.
type reader struct {
	t   *testing.T
	br  *bufio.Reader
	got strings.Builder
}

// until reads until the body read so far ends with marker, failing after
// the safety bound.
func (r *reader) until(marker string) {
	r.t.Helper()
	done := make(chan error, 1)
	go func() {
		for !strings.HasSuffix(r.got.String(), marker) {
			c, err := r.br.ReadByte()
			if err != nil {
				done <- fmt.Errorf("after %q: %w", r.got.String(), err)
				return
			}
			r.got.WriteByte(c)
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			r.t.Fatalf("waiting for %q: %v", marker, err)
		}
	case <-time.After(safety):
		r.t.Fatalf("waiting for %q: not sent; the page so far: %q", marker, r.got.String())
	}
}

func (r *reader) rest() string {
	r.t.Helper()
	b, err := io.ReadAll(r.br)
	if err != nil {
		r.t.Fatalf("read rest: %v", err)
	}
	r.got.Write(b)
	return r.got.String()
}

func open(t *testing.T, url string) (*http.Response, *reader) {
	t.Helper()
	resp, err := client(t).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &reader{t: t, br: bufio.NewReader(resp.Body)}
}

// gate is released by the test, never by a timer.
type gate chan struct{}

func (g gate) wait(r *http.Request) bool {
	select {
	case <-g:
		return true
	case <-r.Context().Done():
		return false
	}
}

func write(w http.ResponseWriter, s string) {
	_, _ = io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

func TestHeadIsSentBeforeAnyFragmentAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(gate)
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		if release.wait(r) {
			write(w, "[A]")
		}
	})})
	resp, body := open(t, e.page(`<head>HEAD</head><micro-frontend id=a/>END`, nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body.until("HEAD</head>")
	close(release)
	if got := body.rest(); got != "<head>HEAD</head>[A]END" {
		t.Errorf("page = %q", got)
	}
}

func TestFragmentsStreamInOrderChunkByChunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var started sync.WaitGroup
	started.Add(3)
	bRest, cRelease := make(gate), make(gate)
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		write(w, "[A]")
	})})
	e.register("b", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		write(w, "[B1]")
		if bRest.wait(r) {
			write(w, "[B2]")
		}
	})})
	// c answers at once but must wait its turn behind b.
	e.register("c", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		if cRelease.wait(r) {
			write(w, "[C]")
		}
	})})
	_, body := open(t, e.page(`H<micro-frontend id=a/>-<micro-frontend id=b/>-<micro-frontend id=c/>E`, nil))
	// All fragments were requested at once: c is asked before b has finished.
	waitGroup(t, &started)
	close(cRelease)
	body.until("H[A]-[B1]")
	close(bRest)
	if got := body.rest(); got != "H[A]-[B1][B2]-[C]E" {
		t.Errorf("page = %q", got)
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(safety):
		t.Fatal("not every fragment was requested")
	}
}

func TestAsyncFragmentComesLaterAndDoesNotBlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(gate)
	e.register("rec", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		if release.wait(r) {
			write(w, "[REC]")
		}
	})})
	e.register("fast", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		write(w, "[FAST]")
	})})
	_, body := open(t, e.page(`<body><micro-frontend id=rec async><i>loading</i></micro-frontend><micro-frontend id=fast async/>AFTER</body>`, nil))
	body.until(`" data-fragment="rec"><i>loading</i></mfe-placeholder>`)
	key := pageKey(t, body.got.String())
	if !strings.HasSuffix(body.got.String(), `<mfe-placeholder id="mfe-async-0-`+key+`" data-fragment="rec"><i>loading</i></mfe-placeholder>`) {
		t.Errorf("page so far = %q", body.got.String())
	}
	body.until("AFTER")
	// The fast async fragment completes first and comes first.
	// Its mover script is the same bytes as every other's (so that a CSP
	// hash allows it).
	mover := `<script>` + stream.MoverScript + `</script>`
	body.until(`<template id="mfe-async-1-` + key + `-content">[FAST]</template>` + mover)
	close(release)
	got := body.rest()
	if !strings.HasSuffix(got, `<template id="mfe-async-0-`+key+`-content">[REC]</template>`+mover+`</body>`) {
		t.Errorf("page = %q", got)
	}
}

var asyncIDs = regexp.MustCompile(`(mfe-async-[0-9]+)-([A-Za-z0-9_-]{11})\b`)

// pageKey returns the random part of the page's async ids: the same in
// every one of them.
func pageKey(t *testing.T, page string) string {
	t.Helper()
	m := asyncIDs.FindAllStringSubmatch(page, -1)
	if len(m) == 0 {
		t.Fatalf("no async id with a random part in %q", page)
	}
	for _, x := range m {
		if x[2] != m[0][2] {
			t.Errorf("one page, two keys: %q and %q", m[0][2], x[2])
		}
	}
	return m[0][2]
}

// unkey writes the random part of a page's async ids as KEY.
func unkey(page string) string { return asyncIDs.ReplaceAllString(page, "$1-KEY") }

// The async placeholders' ids carry a part drawn for each page, which a
// fragment cannot guess (so that its markup cannot pass for another
// fragment's placeholder or template), while the mover script after each
// async fragment stays the same bytes, allowed by one CSP hash.
func TestAsyncIDsDifferPerPageAndTheMoverIsConstant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{"a", "b"} {
		e.register(id, registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
			write(w, "[A]")
		})})
	}
	url := e.page(`<body><micro-frontend id=a async>wait</micro-frontend><micro-frontend id=b async/></body>`, nil)
	mover := `<script>` + stream.MoverScript + `</script>`
	sum := sha256.Sum256([]byte(stream.MoverScript))
	if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !slices.Contains(strings.Fields(stream.ScriptHashes), h) {
		t.Errorf("ScriptHashes = %s, the mover hashes to %s", stream.ScriptHashes, h)
	}
	keys := map[string]bool{}
	for range 5 {
		_, page := get(t, url, nil)
		key := pageKey(t, page)
		if keys[key] {
			t.Errorf("two pages share the key %q", key)
		}
		keys[key] = true
		if n := strings.Count(page, mover); n != 2 {
			t.Errorf("%d movers, want 2: %q", n, page)
		}
		for _, want := range []string{
			`<mfe-placeholder id="mfe-async-0-` + key + `" data-fragment="a">wait</mfe-placeholder>`,
			`<mfe-placeholder id="mfe-async-1-` + key + `" data-fragment="b"></mfe-placeholder>`,
			`<template id="mfe-async-0-` + key + `-content">[A]</template>` + mover,
			`<template id="mfe-async-1-` + key + `-content">[A]</template>` + mover,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q: %q", want, page)
			}
		}
	}
	// The script does not read what markup can shadow.
	for _, bad := range []string{"document.", "d.currentScript", "d.getElementById", ".previousElementSibling", ".replaceWith(", ".remove("} {
		if strings.Contains(stream.MoverScript, bad) {
			t.Errorf("the mover uses %q, which named elements can shadow", bad)
		}
	}
}

func TestAsyncFailureRemovesPlaceholder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("rec", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", 500)
	})})
	resp, got := get(t, e.page(`<body><micro-frontend id=rec async>wait</micro-frontend></body>`, nil), nil)
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if !strings.Contains(unkey(got), `<template id="mfe-async-0-KEY-content"></template><script>`+stream.MoverScript+`</script>`) || strings.Contains(got, "broken") {
		t.Errorf("page = %q", got)
	}
}

func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/"
}

func TestHideShowsFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		attrs   string
		entry   func(t *testing.T, url string) registry.Entry
	}{
		{name: "server error", handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "internal detail", 500) }},
		{name: "not found", handler: http.NotFound},
		{name: "redirect is not followed", handler: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }},
		{name: "template timeout", handler: hang, attrs: `timeout="50ms"`},
		{name: "registry timeout", handler: hang, entry: func(t *testing.T, url string) registry.Entry {
			return registry.Entry{Endpoint: url, Timeout: 50 * time.Millisecond}
		}},
		{name: "connection refused", entry: func(t *testing.T, _ string) registry.Entry { return registry.Entry{Endpoint: refusedURL(t)} }},
		{name: "not registered", entry: func(*testing.T, string) registry.Entry { return registry.Entry{} }},
		{name: "lambda without transport", entry: func(*testing.T, string) registry.Entry {
			return registry.Entry{Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:x"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.registerCase(t, "x", tt.handler, tt.entry)
			resp, got := get(t, e.page(`[<micro-frontend id=x `+tt.attrs+`><b>fallback</b></micro-frontend>]`, nil), nil)
			if resp.StatusCode != 200 || got != "[<b>fallback</b>]" {
				t.Errorf("got %d %q, want 200 with the fallback", resp.StatusCode, got)
			}
			if !strings.Contains(e.log.String(), "fragment failed") {
				t.Errorf("failure not logged: %s", e.log.String())
			}
		})
	}
}

func TestHideWithoutFallbackRendersNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("x", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) })})
	_, got := get(t, e.page(`[<micro-frontend id=x/>]`, nil), nil)
	if got != "[]" {
		t.Errorf("page = %q", got)
	}
}

func TestRequiredFragmentDecidesStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		entry    func(t *testing.T, url string) registry.Entry
		status   int
		location string
		body     string
	}{
		{name: "404 makes the page 404", handler: http.NotFound, status: 404, body: "custom not found"},
		{name: "410 passes through", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) }, status: 410, body: "410 Gone"},
		{name: "redirect to own host becomes a path", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://"+r.Host+"/login?next=1", http.StatusFound)
		}, status: 302, location: "/login?next=1"},
		{name: "redirect elsewhere kept", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://shop.example/p/2", http.StatusMovedPermanently)
		}, status: 301, location: "https://shop.example/p/2"},
		{name: "5xx gives 502", handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", 500) }, status: 502, body: "Bad Gateway"},
		{name: "other 4xx gives 502", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) }, status: 502},
		{name: "timeout gives 504", handler: hang, entry: func(t *testing.T, url string) registry.Entry {
			return registry.Entry{Endpoint: url, Timeout: 50 * time.Millisecond}
		}, status: 504, body: "Gateway Timeout"},
		{name: "refused gives 502", entry: func(t *testing.T, _ string) registry.Entry { return registry.Entry{Endpoint: refusedURL(t)} }, status: 502},
		{name: "unregistered gives 503", entry: func(*testing.T, string) registry.Entry { return registry.Entry{} }, status: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.registerCase(t, "main", tt.handler, tt.entry)
			resp, got := get(t, e.page(`<p>head</p><micro-frontend id=main errorbehaviour=error>fallback</micro-frontend>`, nil), nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if loc := resp.Header.Get("Location"); loc != tt.location {
				t.Errorf("Location %q, want %q", loc, tt.location)
			}
			if !strings.Contains(got, tt.body) {
				t.Errorf("body %q does not contain %q", got, tt.body)
			}
			for _, leak := range []string{"127.0.0.1", "db down", "<p>head</p>", "fallback"} {
				if strings.Contains(got, leak) {
					t.Errorf("error page shows %q: %q", leak, got)
				}
			}
		})
	}
}

func TestRequiredFragmentGatesStatusNotBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(gate)
	e.register("main", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		write(w, "[MAIN1]")
		if release.wait(r) {
			write(w, "[MAIN2]")
		}
	})})
	resp, body := open(t, e.page(`H<micro-frontend id=main errorbehaviour=error/>E`, nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body.until("H[MAIN1]")
	close(release)
	if got := body.rest(); got != "H[MAIN1][MAIN2]E" {
		t.Errorf("page = %q", got)
	}
}

func TestRequiredFragmentFailingMidBodyAbortsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("main", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		write(w, "[MAIN1]")
		// Cut the connection mid-body.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})})
	resp, body := open(t, e.page(`H<micro-frontend id=main errorbehaviour=error/>E`, nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(body.br)
	if err == nil {
		t.Fatalf("page read whole (%q); want the response aborted", b)
	}
	if strings.HasSuffix(string(b), "E") {
		t.Errorf("page went on after the required fragment failed: %q", b)
	}
}

func TestHideFragmentFailingMidBodyKeepsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("x", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		write(w, "[X1]")
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})})
	_, got := get(t, e.page(`H<micro-frontend id=x>fallback</micro-frontend>E`, nil), nil)
	if got != "H[X1]E" {
		t.Errorf("page = %q", got)
	}
}

func TestOversizedFragmentIsCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.composer.MaxFragmentBytes = 1000
	e.register("big", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 5000))
	})})
	_, got := get(t, e.page(`H<micro-frontend id=big>fallback</micro-frontend>E`, nil), nil)
	// Either nothing was written yet (fallback) or the body was cut at the
	// limit; never more than the limit.
	if n := strings.Count(got, "x"); n > 1000 || !strings.HasPrefix(got, "H") || !strings.HasSuffix(got, "E") {
		t.Errorf("page has %d bytes of the fragment, want at most 1000: %.40q", n, got)
	}
	if !strings.Contains(e.log.String(), "size limit") {
		t.Errorf("not logged: %s", e.log.String())
	}
}

func TestFragmentRequestHeadersAndQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type seen struct {
		header http.Header
		query  string
	}
	got := make(chan seen, 2)
	record := func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Clone(), r.URL.RawQuery}
	}
	e.register("plain", registry.Entry{Endpoint: fragmentServer(t, record)})
	e.register("withcookie", registry.Entry{Endpoint: fragmentServer(t, record) + "/frag?team=x", ForwardHeaders: []string{"Cookie", "X-Ab"}})
	url := e.page(`<micro-frontend id=plain/><micro-frontend id=withcookie/>`, map[string]string{"id": "42"})
	get(t, url+"/?id=7&lang=de", http.Header{
		"Cookie":          {"session=secret"},
		"Authorization":   {"Bearer token"},
		"Accept-Language": {"de-DE"},
		"User-Agent":      {"test-agent"},
		"X-Request-Id":    {"from-browser"},
		"Traceparent":     {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"X-Ab":            {"green"},
		"X-Other":         {"nope"},
	})
	var all []seen
	for range 2 {
		all = append(all, <-got)
	}
	for _, s := range all {
		if s.header.Get("Cookie") != "" {
			// the one with the forward list
			if s.header.Get("X-Ab") != "green" {
				t.Errorf("forwarded X-Ab missing: %v", s.header)
			}
			if s.query != "team=x&id=42&lang=de" {
				t.Errorf("query = %q, want the endpoint's own then page query with the route parameter", s.query)
			}
		} else if s.query != "id=42&lang=de" {
			t.Errorf("query = %q, want id=42&lang=de (route parameter wins)", s.query)
		}
		for _, k := range []string{"Authorization", "X-Other"} {
			if v := s.header.Get(k); v != "" {
				t.Errorf("fragment received %s: %q", k, v)
			}
		}
		if s.header.Get("Accept-Language") != "de-DE" || s.header.Get("User-Agent") != "test-agent" ||
			s.header.Get("Traceparent") == "" || s.header.Get("X-Request-Id") != "req-1" {
			t.Errorf("default headers not forwarded: %v", s.header)
		}
	}
	n := 0
	for _, s := range all {
		if s.header.Get("Cookie") != "" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d fragments received the cookie, want only the one whose entry lists it", n)
	}
}

func TestBrowserDisconnectCancelsFragmentRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arrived, cancelled := make(chan string, 2), make(chan string, 2)
	waiting := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			arrived <- name
			write(w, "["+name+"]")
			<-r.Context().Done()
			cancelled <- name
		}
	}
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, waiting("a")), Timeout: time.Hour})
	e.register("b", registry.Entry{Endpoint: fragmentServer(t, waiting("b")), Timeout: time.Hour})
	url := e.page(`H<micro-frontend id=a/><micro-frontend id=b async/></body>`, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{t: t, br: bufio.NewReader(resp.Body)}
	r.until("H[a]")
	// Both requests in flight (the async one is sent on a goroutine of
	// its own, and under load may not have left yet: a request never
	// sent is never cancelled, and the test waited for it).
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(safety):
			t.Fatal("the fragment requests did not arrive")
		}
	}
	cancel() // the browser goes away
	resp.Body.Close()
	seen := map[string]bool{}
	for range 2 {
		select {
		case name := <-cancelled:
			seen[name] = true
		case <-time.After(safety):
			t.Fatalf("fragment requests not cancelled; cancelled so far: %v", seen)
		}
	}
}

// statusRecorder keeps the status a page writes (0: none), and discards
// its body.
type statusRecorder struct {
	discard
	mu     sync.Mutex
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = code
	}
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// A visitor who leaves while the page waits for a required fragment's
// answer gets no error page: the visitor's leaving is neither the
// fragment's failure nor the composer's. Old code saw the fragment's read
// end (cut because the page had gone) and, about half the time, wrote a
// 502 to the closed connection, logged and counted as a server error
// (found from outside).
func TestAVisitorGoneBeforeARequiredAnswerGetsNoErrorPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	arrived := make(chan struct{}, 1)
	e.register("rq", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})})
	tpl, err := template.Compile("t.html", []byte(`<p>top</p><micro-frontend id=rq errorbehaviour=error/>`))
	if err != nil {
		t.Fatal(err)
	}
	e.composer.Registry = registry.New(e.reg)
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		w := &statusRecorder{discard: discard{h: http.Header{}}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.composer.Serve(w, httptest.NewRequestWithContext(ctx, "GET", "/", nil), &stream.Page{Template: tpl, RequestID: "gone"})
		}()
		select {
		case <-arrived:
		case <-time.After(safety):
			t.Fatal("the required fragment was never asked")
		}
		cancel() // the visitor goes away
		select {
		case <-done:
		case <-time.After(safety):
			t.Fatal("the page never ended")
		}
		if w.status != 0 {
			t.Fatalf("page %d: status %d written for a visitor gone", i, w.status)
		}
	}
}

func TestAssetsGoToHeadAndLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", `</static/x/extra.css>; rel=stylesheet, </static/x/font.woff2>; rel=preload; as=font; crossorigin`)
		w.Header().Add("Link", `</next>; rel=next`)
		write(w, "[X]")
	}
	e.register("x", registry.Entry{Endpoint: fragmentServer(t, ok), Assets: registry.Assets{CSS: []string{"/static/x/x.css"}, JS: []string{"/static/x/x.js"}}})
	e.register("y", registry.Entry{Endpoint: fragmentServer(t, ok), Assets: registry.Assets{CSS: []string{"/static/x/x.css"}}})
	resp, got := get(t, e.page(`<head><title>t</title></head><micro-frontend id=x/><micro-frontend id=y/>`, nil), nil)
	want := `<head><title>t</title><link rel="stylesheet" href="/static/x/x.css">` + "\n" + `<script type="mfe/inert" src="/static/x/x.js" defer></script>` + inert.Tag + "\n" + `</head>` +
		`<link rel="stylesheet" href="/static/x/extra.css"><link rel="preload" href="/static/x/font.woff2" as="font" crossorigin="anonymous">[X]` +
		`[X]` // each URL once per page
	if got != want {
		t.Errorf("page:\n got %q\nwant %q", got, want)
	}
	if l := resp.Header.Get("Link"); l != "</static/x/x.css>; rel=preload; as=style, </static/x/x.js>; rel=preload; as=script" {
		t.Errorf("Link = %q", l)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestRawBytesAreUntouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := "<!DOCTYPE html>\n<HTML lang=en><head><meta charset=utf-8>\n<title>A &amp; B</title></head>\n<body class='x' >\t<p>unclosed <b>bold\n<!-- comment --></body></HTML>\n"
	_, got := get(t, e.page(src, nil), nil)
	if got != src {
		t.Errorf("page:\n got %q\nwant %q", got, src)
	}
}

var errBoom = errors.New("boom")

// memTransport serves fragments from memory, for the benchmark.
type memTransport map[string]string

func (m memTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	body, ok := m[req.Endpoint]
	if !ok {
		return nil, errBoom
	}
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

// benchPage is the benchmarks' page: five in-memory fragments of about
// 2 KB, each in a section.
func benchPage(b testing.TB) (memTransport, map[string]registry.Entry, *template.Template) {
	b.Helper()
	frag := strings.Repeat("<p>fragment content</p>\n", 80) // about 2 KB
	mem := memTransport{}
	reg := map[string]registry.Entry{}
	var src strings.Builder
	src.WriteString("<!doctype html><html><head><title>bench</title></head><body>\n")
	for i := range 5 {
		id := fmt.Sprintf("f%d", i)
		mem["mem://"+id] = frag
		reg[id] = registry.Entry{Endpoint: "mem://" + id}
		fmt.Fprintf(&src, "<section><micro-frontend id=%s/></section>\n", id)
	}
	src.WriteString("</body></html>")
	tpl, err := template.Compile("bench.html", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	return mem, reg, tpl
}

// countingWriter counts what a page hands the ResponseWriter.
type countingWriter struct {
	discard
	writes, flushes, bytes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	c.bytes += len(p)
	return len(p), nil
}

func (c *countingWriter) Flush() { c.flushes++ }

// The page reaches the ResponseWriter in few large writes, at most one
// before each flush and one after the last (for a page smaller than the
// writer's buffer), not one for each piece the guard and the template
// give: each write costs its deadline, the compressor's call and
// net/http's chunking. Every byte still arrives.
func TestPageIsHandedOverInFewWrites(t *testing.T) {
	t.Parallel()
	mem, reg, tpl := benchPage(t)
	c := &stream.Composer{Fetch: mem, Registry: registry.New(reg)}
	whole := httptest.NewRecorder()
	c.Serve(whole, httptest.NewRequest("GET", "/", nil), &stream.Page{Template: tpl, RequestID: "t"})
	w := &countingWriter{discard: discard{h: http.Header{}}}
	c.Serve(w, httptest.NewRequest("GET", "/", nil), &stream.Page{Template: tpl, RequestID: "t"})
	if w.writes > w.flushes+1 {
		t.Errorf("%d writes for %d flushes: the page went out in pieces", w.writes, w.flushes)
	}
	if w.bytes != whole.Body.Len() || w.bytes < 5*1900 {
		t.Errorf("%d bytes written, want the whole page's %d", w.bytes, whole.Body.Len())
	}
}

func BenchmarkCompose(b *testing.B) {
	mem, reg, tpl := benchPage(b)
	c := &stream.Composer{Fetch: mem, Registry: registry.New(reg)}
	page := &stream.Page{Template: tpl, RequestID: "bench"}
	r := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := &discard{h: http.Header{}}
		c.Serve(w, r, page)
	}
}

func TestSetCookieOnlyFromAllowedRequiredFragment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cookie := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: name, Value: "1"})
			write(w, "["+name+"]")
		}
	}
	e.register("session", registry.Entry{Endpoint: fragmentServer(t, cookie("session")), SetCookie: true})
	e.register("notallowed", registry.Entry{Endpoint: fragmentServer(t, cookie("notallowed"))})
	e.register("optional", registry.Entry{Endpoint: fragmentServer(t, cookie("optional")), SetCookie: true})
	resp, _ := get(t, e.page(`<micro-frontend id=session errorbehaviour=error/><micro-frontend id=notallowed errorbehaviour=error/><micro-frontend id=optional/>`, nil), nil)
	var names []string
	for _, c := range resp.Cookies() {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "session" {
		t.Errorf("page cookies = %v, want only the required fragment's whose entry allows it", names)
	}
}

func TestMalformedFragmentDoesNotBreakThePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("bad", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		write(w, "<div class=\"x\"><section><script>var s = '")
		write(w, "\xff\xfe</div></main><!-- never closed <table><tr><td>")
	})})
	_, got := get(t, e.page(`<!doctype html><html><body><main id=page><div id=slot><micro-frontend id=bad/></div><p id=after>after</p></main></body></html>`, nil), nil)
	root, err := html.Parse(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	var after *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == "after" {
				after = n
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if after == nil || after.Parent.Data != "main" || after.FirstChild == nil || after.FirstChild.Data != "after" {
		t.Errorf("the page after the malformed fragment is broken:\n%s", got)
	}
	if !strings.Contains(got, "\uFFFD") || strings.Contains(got, "\xff") {
		t.Errorf("invalid UTF-8 not replaced: %q", got)
	}
}

func TestDrippingFragmentIsCutAtItsDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stopped := make(chan struct{})
	e.register("drip", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(stopped)
		write(w, "<span>")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 600 { // a minute of drips, far past the deadline
			select {
			case <-tick.C:
				write(w, "x")
			case <-r.Context().Done():
				return
			}
		}
	})})
	_, got := get(t, e.page(`[<micro-frontend id=drip timeout=350ms>fallback</micro-frontend>]after`, nil), nil)
	if !strings.HasPrefix(got, "[<span>x") || !strings.HasSuffix(got, "</span>]after") || strings.Count(got, "x") > 10 {
		t.Errorf("page = %q; want the drips up to the deadline, closed, then the rest", got)
	}
	select {
	case <-stopped:
	case <-time.After(safety):
		t.Error("the fragment server did not see the request end")
	}
	if !strings.Contains(e.log.String(), "timed out after 350 ms") {
		t.Errorf("timeout not logged: %s", e.log.String())
	}
}

// countingTransport serves fragments from memory and counts requests per
// endpoint.
type countingTransport struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	c.mu.Lock()
	c.counts[req.Endpoint]++
	c.mu.Unlock()
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("[" + req.Endpoint + "]"))}, nil
}

func TestCanaryWeightsAndStickiness(t *testing.T) {
	t.Parallel()
	ct := &countingTransport{counts: map[string]int{}}
	reg := registry.New(map[string]registry.Entry{"reviews": {
		Endpoint: "mem://stable",
		Versions: []registry.Version{{Name: "v2", Endpoint: "mem://v2", Weight: 10}, {Name: "v3", Endpoint: "mem://v3", Weight: 30}},
	}})
	c := &stream.Composer{Fetch: ct, Registry: reg}
	tpl, err := template.Compile("p.html", []byte(`<micro-frontend id=reviews/><micro-frontend id=reviews/>`))
	if err != nil {
		t.Fatal(err)
	}
	page := &stream.Page{Template: tpl, RequestID: "x"}
	const visitors = 10000
	assigned := map[string]string{} // cookie value -> endpoint seen
	for range visitors {
		w := httptest.NewRecorder()
		c.Serve(w, httptest.NewRequest("GET", "/", nil), page)
		resp := w.Result()
		cookies := resp.Cookies()
		if len(cookies) != 1 || cookies[0].Name != "mfe-v-reviews" || !cookies[0].HttpOnly || cookies[0].MaxAge <= 0 {
			t.Fatalf("cookies = %v", cookies)
		}
		body := w.Body.String()
		if parts := strings.SplitAfter(body, "]"); len(parts) != 3 || parts[0] != parts[1] {
			t.Fatalf("two slots of one fragment got different versions: %q", body)
		}
		assigned[cookies[0].Value] = strings.Trim(strings.SplitAfter(body, "]")[0], "[]")
		if resp.Header.Get("Cache-Control") != "private" {
			t.Fatalf("Cache-Control = %q, want private", resp.Header.Get("Cache-Control"))
		}
	}
	for endpoint, want := range map[string]float64{"mem://stable": 0.60, "mem://v2": 0.10, "mem://v3": 0.30} {
		// Five standard deviations of a binomial share: a wrong weighting
		// (a version given another's share) is far outside it, while a fair
		// draw falls outside it once in millions of runs. (±1.5 points, about
		// three deviations, failed about once in a hundred runs.)
		got := float64(ct.counts[endpoint]) / (2 * visitors)
		tol := 5 * math.Sqrt(want*(1-want)/visitors)
		if got < want-tol || got > want+tol {
			t.Errorf("%s: %.3f of visitors, want %.2f ± %.3f", endpoint, got, want, tol)
		}
	}
	if assigned["default"] != "mem://stable" || assigned["v2"] != "mem://v2" || assigned["v3"] != "mem://v3" {
		t.Errorf("cookie values to endpoints: %v", assigned)
	}
	// A returning visitor stays on their version and gets no new cookie.
	for range 100 {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: "mfe-v-reviews", Value: "v2"})
		w := httptest.NewRecorder()
		c.Serve(w, r, page)
		if body := w.Body.String(); body != "[mem://v2][mem://v2]" || len(w.Result().Cookies()) != 0 {
			t.Fatalf("returning visitor: %q, cookies %v", body, w.Result().Cookies())
		}
	}
}

// freshness is a fake fragment cache: endpoint -> the max-age of the
// answer it hands out at once.
type freshness map[string]time.Duration

// peekMem serves like its transport, and hands out fresh answers from
// fresh at once, as the fragment cache does.
type peekMem struct {
	fetch.Transport
	fresh freshness
}

func (p peekMem) Peek(req *fetch.Request) *fetch.Response {
	d, ok := p.fresh[req.Endpoint]
	if !ok {
		return nil
	}
	return &fetch.Response{Status: 200, Header: http.Header{"Cache-Control": {fmt.Sprintf("max-age=%d", int(d/time.Second))}}, Body: io.NopCloser(strings.NewReader("[fresh]"))}
}

func TestPageCacheControlFolding(t *testing.T) {
	t.Parallel()
	mem := memTransport{"mem://a": "a", "mem://b": "b", "mem://main": "m"}
	tests := []struct {
		name   string
		src    string
		fresh  freshness
		mainCC string
		want   string
	}{
		{"all fresh: shortest wins", `<micro-frontend id=a/><micro-frontend id=b/>`, freshness{"mem://a": 300 * time.Second, "mem://b": 60 * time.Second}, "", "public, max-age=0, s-maxage=60"},
		{"one not in the cache", `<micro-frontend id=a/><micro-frontend id=b/>`, freshness{"mem://a": 300 * time.Second}, "", "no-store"},
		{"required public", `<micro-frontend id=main errorbehaviour=error/><micro-frontend id=a/>`, freshness{"mem://a": 300 * time.Second}, "public, s-maxage=30, max-age=5", "public, max-age=0, s-maxage=30"},
		{"required private", `<micro-frontend id=main errorbehaviour=error/><micro-frontend id=a/>`, freshness{"mem://a": 300 * time.Second}, "private, max-age=60", "private, no-cache"},
		{"required no-store", `<micro-frontend id=main errorbehaviour=error/>`, nil, "no-store", "no-store"},
		{"required without Cache-Control", `<micro-frontend id=main errorbehaviour=error/>`, nil, "", "no-store"},
		{"unregistered fallback does not count", `<micro-frontend id=a/><micro-frontend id=nope>x</micro-frontend>`, freshness{"mem://a": 90 * time.Second}, "", "public, max-age=0, s-maxage=90"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registry.New(map[string]registry.Entry{"a": {Endpoint: "mem://a"}, "b": {Endpoint: "mem://b"}, "main": {Endpoint: "mem://main"}})
			var tr fetch.Transport = mem
			if tt.mainCC != "" {
				tr = headerTransport{next: mem, endpoint: "mem://main", cc: tt.mainCC}
			}
			c := &stream.Composer{Fetch: peekMem{tr, tt.fresh}, Registry: reg}
			tpl, err := template.Compile("p.html", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			c.Serve(w, httptest.NewRequest("GET", "/", nil), &stream.Page{Template: tpl})
			if got := w.Result().Header.Get("Cache-Control"); got != tt.want {
				t.Errorf("Cache-Control = %q, want %q", got, tt.want)
			}
		})
	}
}

// headerTransport adds a Cache-Control to one endpoint's responses.
type headerTransport struct {
	next         fetch.Transport
	endpoint, cc string
}

func (h headerTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	resp, err := h.next.Fetch(ctx, req)
	if err == nil && req.Endpoint == h.endpoint {
		resp.Header = http.Header{"Cache-Control": {h.cc}}
	}
	return resp, err
}

// panicTransport panics while fetching "panic:head" and while reading the
// body of "panic:body" (after its first bytes); other endpoints answer.
type panicTransport struct{}

func (panicTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	switch req.Endpoint {
	case "panic:head":
		panic("transport bug")
	case "panic:body":
		return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(io.MultiReader(strings.NewReader("<p>first"), panicReader{}))}, nil
	}
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("[" + req.Endpoint + "]"))}, nil
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("body reader bug") }

// A bug in a transport costs its fragment, not the process and every page
// in flight: the fragment's fallback shows (or its bytes so far, closed),
// the rest of the page is whole, and the panic is logged with its stack.
func TestFetchPanicIsThatFragmentsFailure(t *testing.T) {
	t.Parallel()
	reg := registry.New(map[string]registry.Entry{
		"head":  {Endpoint: "panic:head"},
		"body":  {Endpoint: "panic:body"},
		"async": {Endpoint: "panic:head"},
		"ok":    {Endpoint: "ok"},
	})
	var logs logbuf.Buffer
	c := &stream.Composer{Fetch: panicTransport{}, Registry: reg, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	tpl, err := template.Compile("p.html", []byte(`<main><micro-frontend id=head>fallback-head</micro-frontend>|<micro-frontend id=body>fallback-body</micro-frontend>|<micro-frontend id=async async>fallback-async</micro-frontend>|<micro-frontend id=ok/></main>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, required := range []bool{false, true} {
		page := tpl
		if required {
			page, err = template.Compile("r.html", []byte(`<main><micro-frontend id=head errorbehaviour=error/></main>`))
			if err != nil {
				t.Fatal(err)
			}
		}
		w := httptest.NewRecorder()
		c.Serve(w, httptest.NewRequest("GET", "/", nil), &stream.Page{Template: page, RequestID: "r1"})
		body := w.Body.String()
		if required {
			if w.Code != http.StatusBadGateway {
				t.Errorf("required fragment panicked: status %d, want 502", w.Code)
			}
			continue
		}
		if w.Code != 200 {
			t.Errorf("status %d, want 200", w.Code)
		}
		// A failed async fragment removes its placeholder: its template is empty.
		for _, want := range []string{"fallback-head|", "<p>first</p>|", "[ok]</main>", `<template id="mfe-async-2-KEY-content"></template>`} {
			if !strings.Contains(unkey(body), want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		}
	}
	if l := logs.String(); !strings.Contains(l, "fragment fetch panicked") || !strings.Contains(l, "transport bug") || !strings.Contains(l, "body reader bug") || !strings.Contains(l, "goroutine") {
		t.Errorf("panics not logged with their stacks:\n%s", l)
	}
}

// BenchmarkServeHTTP is the whole path on loopback: a client asks for pages
// of five 2 KB fragments from an HTTP fragment server, many at once; the
// composer fetches them with its own client and streams the page. Client,
// composer and fragment server share the machine, as in production they
// share none: compare runs, not absolute numbers.
func BenchmarkServeHTTP(b *testing.B) {
	frag := strings.Repeat("<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\n", 30) // about 2 KB
	fragments := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, frag)
	}))
	defer fragments.Close()
	h := fetch.NewHTTP()
	defer h.Close()
	reg := map[string]registry.Entry{}
	var src strings.Builder
	src.WriteString("<!doctype html><html><head><title>bench</title></head><body>\n")
	for i := range 5 {
		id := fmt.Sprintf("f%d", i)
		reg[id] = registry.Entry{Endpoint: fragments.URL + "/" + id}
		fmt.Fprintf(&src, "<section><micro-frontend id=%s/></section>\n", id)
	}
	src.WriteString("</body></html>")
	tpl, err := template.Compile("bench.html", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	c := &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: registry.New(reg)}
	page := &stream.Page{Template: tpl, RequestID: "bench"}
	composer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.Serve(w, r, page) }))
	defer composer.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(composer.URL)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n < 10<<10 {
				b.Errorf("status %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
}

// cachedMem answers like memTransport, with max-age=60.
type cachedMem struct{ memTransport }

func (m cachedMem) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	resp, err := m.memTransport.Fetch(ctx, req)
	if err == nil {
		resp.Header.Set("Cache-Control", "max-age=60")
	}
	return resp, err
}

// BenchmarkComposeCached is BenchmarkCompose with every fragment fresh in
// the fragment cache: the page is shared.
func BenchmarkComposeCached(b *testing.B) {
	mem, reg, tpl := benchPage(b)
	c := &stream.Composer{Fetch: cache.New(cachedMem{mem}, 64<<20, nil), Registry: registry.New(reg)}
	page := &stream.Page{Template: tpl, RequestID: "bench"}
	r := httptest.NewRequest("GET", "/", nil)
	c.Serve(&discard{h: http.Header{}}, r, page)
	b.ReportAllocs()
	for b.Loop() {
		w := &discard{h: http.Header{}}
		c.Serve(w, r, page)
		if w.h.Get("Cache-Control") == "no-store" {
			b.Fatal("page not cacheable")
		}
	}
}

// A streamed page asks the proxy in front not to buffer it: nginx (and
// ingress-nginx) buffer proxied answers by default and honour this header.
// An error page is whole at once and needs nothing.
func TestStreamedPageAsksProxiesNotToBuffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		write(w, "[A]")
	})})
	resp, body := open(t, e.page(`<head>HEAD</head><micro-frontend id=a/>END`, nil))
	body.rest()
	if got := resp.Header.Get("X-Accel-Buffering"); resp.StatusCode != 200 || got != "no" {
		t.Errorf("status %d, X-Accel-Buffering = %q, want no", resp.StatusCode, got)
	}
}

// The canary cookie is Secure by the same rule as every cookie the
// composer sets: TLS, or what the front says (X-Forwarded-Proto, its first
// element, any case; CloudFront-Forwarded-Proto; RFC 7239 Forwarded).
func TestCanaryCookieSecureBehindTheFront(t *testing.T) {
	t.Parallel()
	reg := registry.New(map[string]registry.Entry{"reviews": {
		Endpoint: "mem://stable",
		Versions: []registry.Version{{Name: "v2", Endpoint: "mem://v2", Weight: 50}},
	}})
	c := &stream.Composer{Fetch: &countingTransport{counts: map[string]int{}}, Registry: reg}
	tpl, err := template.Compile("p.html", []byte(`<micro-frontend id=reviews/>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		name, value string
		secure      bool
	}{
		{"X-Forwarded-Proto", "https", true},
		{"X-Forwarded-Proto", "HTTPS", true},
		{"X-Forwarded-Proto", "https, http", true},
		{"Forwarded", "for=192.0.2.1;proto=https", true},
		{"X-Forwarded-Proto", "http", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(h.name, h.value)
		w := httptest.NewRecorder()
		c.Serve(w, r, &stream.Page{Template: tpl, RequestID: "x"})
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Secure != h.secure {
			t.Errorf("%s: %s: cookies %v, want one with Secure %v", h.name, h.value, cookies, h.secure)
		}
	}
}

// Two slots of one fragment with the same query are two renders on one
// page: each request names its slot (fetch.SlotHeader), distinct within
// the page and the same on every load of the template, so that React's
// identifierPrefix (docs/fragment-frameworks.md) keeps their ids apart.
func TestEachSlotIsNamedUniquelyAndStably(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := make(chan string, 8)
	e.register("react", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(fetch.SlotHeader)
		io.WriteString(w, "<p>"+r.Header.Get(fetch.SlotHeader)+"</p>")
	})})
	url := e.page(`<main><micro-frontend id=react/><micro-frontend id=react/><micro-frontend id=react async/></main>`, nil)
	var loads [][]string
	for range 2 {
		get(t, url+"/", http.Header{fetch.SlotHeader: {"from-visitor"}})
		var ids []string
		for range 3 {
			ids = append(ids, <-got)
		}
		slices.Sort(ids)
		loads = append(loads, ids)
	}
	ids := loads[0]
	if ids[0] == "" || ids[0] == ids[1] || ids[1] == ids[2] || slices.Contains(ids, "from-visitor") {
		t.Fatalf("slot identities %q: want three distinct values of the composer's", ids)
	}
	if !slices.Equal(loads[0], loads[1]) {
		t.Errorf("slot identities changed between loads: %q then %q", loads[0], loads[1])
	}
}

// An entry that asks for Podium's context gets it from what the CDN sees:
// the mount origin from the setting (never the request's Host), the
// locale and device type from headers the CDN keys on or from the entry,
// the mount pathname only when the entry asks for it.
func TestPodiumContextHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 8)
	record := func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }
	tests := []struct {
		name   string
		cdnKey []string
		podium *registry.Podium
		want   map[string]string
	}{
		{"defaults, nothing keyed", nil, &registry.Podium{}, map[string]string{
			"Podium-Locale": "en-US", "Podium-Device-Type": "desktop", "Podium-Mount-Origin": "https://shop.example",
			"Podium-Mount-Pathname": "", "Podium-Public-Pathname": "/", "Podium-Requested-By": "test.html"}},
		{"keyed headers", []string{"Accept-Language", "CloudFront-Is-Mobile-Viewer"}, &registry.Podium{MountPathname: true}, map[string]string{
			"Podium-Locale": "de-DE", "Podium-Device-Type": "mobile", "Podium-Mount-Pathname": "/p/42"}},
		{"the entry's own values", []string{"Accept-Language"}, &registry.Podium{Locale: "fr-FR", DeviceType: "tablet", PublicPathname: "/podium-resource/p"}, map[string]string{
			"Podium-Locale": "fr-FR", "Podium-Device-Type": "tablet", "Podium-Public-Pathname": "/podium-resource/p"}},
		{"off", []string{"Accept-Language"}, nil, map[string]string{
			"Podium-Locale": "", "Podium-Device-Type": "", "Podium-Mount-Origin": "", "Podium-Requested-By": ""}},
	}
	for _, tt := range tests {
		e := newEnv(t)
		e.composer.CDNKey = tt.cdnKey
		e.composer.PublicOrigin = "https://shop.example"
		e.register("p", registry.Entry{Endpoint: fragmentServer(t, record), Podium: tt.podium})
		get(t, e.page(`<micro-frontend id=p/>`, nil)+"/p/42", http.Header{
			"Accept-Language": {"de-DE,de;q=0.9"}, "Cloudfront-Is-Mobile-Viewer": {"true"}, "Podium-Locale": {"xx"},
		})
		h := <-got
		for k, v := range tt.want {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, h.Get(k), v)
			}
		}
	}
}

// podium-locale is the first language the visitor names, across all the
// lines of Accept-Language: an empty first line (which a CDN folding the
// lines into one key drops) does not turn a French visitor's page into
// en-US under the key "fr-FR".
func TestPodiumLocaleIsTheFirstLanguageAcrossLines(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 8)
	e := newEnv(t)
	e.composer.CDNKey = []string{"Accept-Language"}
	e.register("p", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }), Podium: &registry.Podium{}})
	url := e.page(`<micro-frontend id=p/>`, nil)
	for _, tt := range []struct {
		lines []string
		want  string
	}{
		{[]string{"", "fr-FR"}, "fr-FR"},
		{[]string{" , ", "de;q=0.9, fr"}, "de"},
		{[]string{"fr-FR", "de"}, "fr-FR"},
		{[]string{"*", "de"}, "en-US"}, // not a locale: the default, as for one line
		{[]string{"", ""}, "en-US"},
	} {
		get(t, url, http.Header{"Accept-Language": tt.lines})
		if h := <-got; h.Get("Podium-Locale") != tt.want {
			t.Errorf("Accept-Language %q: podium-locale %q, want %q", tt.lines, h.Get("Podium-Locale"), tt.want)
		}
	}
}

// The flush delay counts from the first byte not yet flushed: a fragment
// whose chunks keep coming, each sooner than the delay, still reaches the
// browser within about the delay, not only at its end.
func TestFlushDelayIsACapNotAReset(t *testing.T) {
	const chunks = 20
	lastSent := make(chan struct{})
	var once sync.Once // the page asks for the fragment twice
	e := newEnv(t)
	e.composer.FlushDelay = 300 * time.Millisecond
	e.register("trickle", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		for i := range chunks {
			if i == chunks-1 {
				once.Do(func() { close(lastSent) })
			}
			fmt.Fprintf(w, "<p>chunk %d</p>", i)
			w.(http.Flusher).Flush()
			if i < chunks-1 {
				time.Sleep(100 * time.Millisecond)
			}
		}
	})})
	url := e.page(`<html><body><p>head</p><micro-frontend id="trickle"/><p>after</p><micro-frontend id="trickle"/></body></html>`, nil)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var got strings.Builder
	for !strings.Contains(got.String(), "chunk 0") {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("%v after %q", err, got.String())
		}
		got.WriteByte(b)
	}
	select {
	case <-lastSent:
		t.Errorf("the fragment's first chunk reached the browser only after its last was sent: each new chunk put the flush off again")
	default:
	}
	_, _ = io.Copy(io.Discard, r)
}

// A page with a buffer's worth of bytes pending does not hold them for the
// flush delay when it has to wait: with a delay of an hour, the large
// fragment's bytes reach the browser while the next fragment still waits
// for the test to let it answer.
func TestFlushDelayDoesNotHoldALargePending(t *testing.T) {
	large := "<p>" + strings.Repeat("large ", 8<<10) + "</p>"
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	e := newEnv(t)
	e.composer.FlushDelay = time.Hour
	e.register("large", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, large)
	})})
	e.register("late", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "<p>late</p>")
	})})
	url := e.page(`<html><body><p>head</p><micro-frontend id="large"/><micro-frontend id="late"/></body></html>`, nil)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	seen := make(chan error, 1)
	go func() {
		r := bufio.NewReader(resp.Body)
		var got strings.Builder
		for !strings.Contains(got.String(), large) {
			b, err := r.ReadByte()
			if err != nil {
				seen <- fmt.Errorf("%v after %d bytes", err, got.Len())
				return
			}
			got.WriteByte(b)
		}
		seen <- nil
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case err := <-seen:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(safety):
		t.Errorf("the large fragment's %d bytes were held for the flush delay while the page waited", len(large))
	}
	free()
}
