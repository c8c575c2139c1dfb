package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/fragments"
)

// safety bounds waits for things that must happen; never a timing claim.
const safety = 20 * time.Second

type instance struct {
	base   string
	admin  string // the admin listener: /metrics, /debug/pprof/
	logs   *logbuf.Buffer
	out    *logbuf.Buffer // what it printed to standard output
	cancel context.CancelFunc
	done   chan error
}

// start runs the real server on a loopback port and waits until it is
// healthy. env is its whole environment.
func start(t *testing.T, env map[string]string, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logbuf.Buffer{}
	inst := &instance{logs: logs, out: &logbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	argv := []string{"composer"}
	if len(args) > 0 && args[0] == "dev" { // a subcommand that serves
		argv, args = append(argv, "dev"), args[1:]
	}
	argv = append(append(argv, "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-log-format", "json"), args...)
	go func() {
		inst.done <- run(ctx, argv, func(k string) string { return env[k] }, inst.out, logs)
	}()
	t.Cleanup(func() { inst.stop(t) })
	deadline := time.Now().Add(safety)
	for inst.base == "" {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start; logs:\n%s", logs)
		}
		select {
		case err := <-inst.done:
			inst.done <- err
			t.Fatalf("run returned early: %v\nlogs:\n%s", err, logs)
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				switch line.Msg {
				case "listening":
					inst.base = "http://" + line.Addr
				case "admin listener":
					inst.admin = "http://" + line.Addr
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		resp, err := http.Get(inst.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return inst
}

func (inst *instance) stop(t *testing.T) {
	t.Helper()
	inst.cancel()
	select {
	case err := <-inst.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		inst.done <- nil
	case <-time.After(safety):
		t.Errorf("run did not return after cancel")
	}
}

func fetchPage(t *testing.T, u string) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestDemoEndToEnd(t *testing.T) {
	inst := start(t, nil)
	if !strings.Contains(inst.logs.String(), "running the embedded demo") {
		t.Errorf("first log lines do not say demo mode:\n%s", inst.logs)
	}
	status, page := fetchPage(t, inst.base+"/productdetails")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`class="site-header"`, `data-cart-count`, // header
		`<h1 id="product-title">The River of Bytes</h1>`, `data-add-to-cart`, `product-cover`, `product-price`, // product
		`class="reviews"`, `data-review-form`, // reviews
		`<template id="mfe-async-`, `Readers also bought`, `class="recs-list"`, // recommendations, async
		`data-toasts`,         // notifications
		`class="site-footer"`, // footer
		`<link rel="stylesheet" href="` + fragments.Asset("/static/product/product.css") + `">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "taking a break") {
		t.Error("a fallback is shown on the healthy demo page")
	}

	status, page = fetchPage(t, inst.base+"/product/3")
	if status != 200 || !strings.Contains(page, "<h1 id=\"product-title\">Latency</h1>") {
		t.Errorf("/product/3: %d, product title missing", status)
	}
	status, page = fetchPage(t, inst.base+"/product/999")
	if status != 404 || !strings.Contains(page, "not on our shelves") {
		t.Errorf("/product/999: %d, want the 404 page", status)
	}
	status, _ = fetchPage(t, inst.base+"/no/such/page")
	if status != 404 {
		t.Errorf("unknown path: %d, want 404", status)
	}
	status, page = fetchPage(t, inst.base+"/productdetails?fail=reviews")
	if status != 200 || !strings.Contains(page, "taking a break") {
		t.Errorf("?fail=reviews: %d, want 200 with the reviews fallback", status)
	}
	status, page = fetchPage(t, inst.base+"/productdetails?fail=product")
	if status != 502 || !strings.Contains(page, "not available right now") || strings.Contains(page, "127.0.0.1") {
		t.Errorf("?fail=product: %d, want 502 with error.html and no internal address", status)
	}
	for _, asset := range []string{"/static/shell/shell.css", "/static/product/product.js", "/static/product/covers/1.svg"} {
		if status, _ := fetchPage(t, inst.base+asset); status != 200 {
			t.Errorf("%s: %d", asset, status)
		}
	}
	if status, body := fetchPage(t, inst.base+"/readyz"); status != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", status, body)
	}
}

func TestDemoReviewForm(t *testing.T) {
	inst := start(t, nil)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"name": {"Test Reader"}, "rating": {"4"}, "text": {"Posted through the composer."}}
	resp, err := c.PostForm(inst.base+"/api/reviews/2", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/product/2#reviews" {
		t.Fatalf("post: %d to %q, want 303 back to the product", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := fetchPage(t, inst.base+"/product/2")
	if !strings.Contains(page, "Posted through the composer.") {
		t.Error("the new review is not on the page")
	}
	resp, err = c.PostForm(inst.base+"/api/reviews/2", url.Values{"name": {""}, "rating": {"9"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad review: %d, want 400", resp.StatusCode)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write then rename, as a deploy would, so a reload never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the safety bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLocalFolderAndRegistryFileWithReload(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<b>hello %s</b>", r.URL.Query().Get("name"))
	}))
	defer frag.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<i>other</i>")
	}))
	defer other.Close()

	dir := t.TempDir()
	tpl := filepath.Join(dir, "templates")
	if err := os.Mkdir(tpl, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tpl, "routes.json"), `{"/hello/{name}": "hello.html"}`)
	writeFile(t, filepath.Join(tpl, "hello.html"), `v1 <micro-frontend id="greeting"/>`)
	regFile := filepath.Join(dir, "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"greeting": %q}`, frag.URL))

	inst := start(t, map[string]string{
		"COMPOSER_TEMPLATES": tpl,
		"COMPOSER_REGISTRY":  regFile,
		"COMPOSER_REFRESH":   "50ms",
	})
	if status, page := fetchPage(t, inst.base+"/hello/ada"); status != 200 || page != "v1 <b>hello ada</b>" {
		t.Fatalf("page: %d %q", status, page)
	}

	writeFile(t, filepath.Join(tpl, "hello.html"), `v2 <micro-frontend id="greeting"/>`)
	eventually(t, "changed template served", func() bool {
		_, page := fetchPage(t, inst.base+"/hello/ada")
		return page == "v2 <b>hello ada</b>"
	})

	writeFile(t, filepath.Join(tpl, "hello.html"), "v3\n<micro-frontend id=\"greeting\" timeout=\"soon\"/>")
	eventually(t, "broken template logged", func() bool {
		return strings.Contains(inst.logs.String(), `"file":"hello.html","line":2`)
	})
	if _, page := fetchPage(t, inst.base+"/hello/ada"); page != "v2 <b>hello ada</b>" {
		t.Errorf("after a broken template: %q, want the last good one", page)
	}

	writeFile(t, regFile, fmt.Sprintf(`{"greeting": %q, "extra": {"endpoint": "ftp://nope"}}`, other.URL))
	eventually(t, "registry change used", func() bool {
		_, page := fetchPage(t, inst.base+"/hello/ada")
		return page == "v2 <i>other</i>"
	})
	if !strings.Contains(inst.logs.String(), `"id":"extra"`) {
		t.Errorf("malformed entry not logged with its id:\n%s", inst.logs)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{env: map[string]string{"COMPOSER_REFRESH": "often"}, want: `COMPOSER_REFRESH="often"`},
		{args: []string{"-fragment-timeout", "-1s"}, want: `-fragment-timeout "-1s"`},
		{env: map[string]string{"COMPOSER_LOG_FORMAT": "xml"}, want: `COMPOSER_LOG_FORMAT="xml"`},
		{env: map[string]string{"COMPOSER_TEMPLATES": "/does/not/exist"}, want: `COMPOSER_TEMPLATES="/does/not/exist": not a folder`},
		{args: []string{"extra"}, want: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		err := run(context.Background(), append([]string{"composer", "-addr", "127.0.0.1:0"}, tt.args...), func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v args %v: %v, want error containing %q", tt.env, tt.args, err, tt.want)
		}
	}
}

func TestShutdownFinishesPagesInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		fmt.Fprint(w, "<p>late</p>")
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `start <micro-frontend id="slow" timeout="1h"/> end`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"slow": %q}`, frag.URL))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile})

	type result struct {
		status int
		page   string
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(inst.base + "/")
		if err != nil {
			got <- result{page: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b)}
	}()
	<-entered
	inst.cancel() // SIGTERM
	eventually(t, "shutdown begun", func() bool { return strings.Contains(inst.logs.String(), "shutting down") })
	if _, err := http.Get(inst.base + "/healthz"); err == nil {
		t.Error("new connections still accepted after shutdown began")
	}
	close(release)
	r := <-got
	if r.status != 200 || r.page != "start <p>late</p> end" {
		t.Errorf("page in flight: %d %q, want it whole", r.status, r.page)
	}
	inst.stop(t) // run returns, without error
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html", "/b": "missing.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "<p>\n<micro-frontend id=\"x\" errorbehaviour=\"maybe\"/>\n<micro-frontend id=\"y\"/>")
	var out strings.Builder
	err := run(context.Background(), []string{"composer", "validate", dir}, os.Getenv, &out, io.Discard)
	if err == nil {
		t.Fatal("validate passed a broken folder")
	}
	for _, want := range []string{
		filepath.Join(dir, "a.html") + `:2: errorbehaviour="maybe"`,
		filepath.Join(dir, "routes.json") + `:1: route "/b": template "missing.html" not found`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if follow := filepath.Join(dir, "routes.json") + `:1: route "/":`; strings.Contains(out.String(), follow) {
		t.Errorf("a follow-on line for the broken a.html:\n%s", out.String())
	}

	writeFile(t, filepath.Join(dir, "a.html"), "<p>\n<micro-frontend id=\"x\"/>\n<micro-frontend id=\"y\"/>")
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, `{"x": "http://x.internal/", "z": "gopher://z"}`)
	out.Reset()
	err = run(context.Background(), []string{"composer", "validate", dir, "-registry", reg}, os.Getenv, &out, io.Discard)
	if err == nil {
		t.Fatal("validate passed an unresolved id")
	}
	for _, want := range []string{
		filepath.Join(dir, "a.html") + `:3: fragment "y" is not in the registry`,
		reg + `:1: fragment "z": endpoint "gopher://z"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"composer", "validate", "../templates"}, os.Getenv, &out, io.Discard); err != nil {
		t.Errorf("the demo templates do not validate: %v\n%s", err, out.String())
	}
}

func TestMetricsAfterAPage(t *testing.T) {
	inst := start(t, nil)
	if status, _ := fetchPage(t, inst.base+"/product/2?fail=reviews"); status != 200 {
		t.Fatalf("page: %d", status)
	}
	fetchPage(t, inst.base+"/no/such/page")
	for _, want := range []struct{ name, labels string }{
		{"composer_page_requests_total", `{route="/product/{id}",status="200"}`},
		{"composer_page_requests_total", `{route="unmatched",status="404"}`},
		{"composer_page_duration_seconds_count", `{route="/product/{id}"}`},
		{"composer_page_ttfb_seconds_count", `{route="/product/{id}"}`},
		{"composer_fragment_duration_seconds_count", `{fragment="product",outcome="ok",version=""}`},
		{"composer_fragment_duration_seconds_count", `{fragment="reviews",outcome="status",version=""}`},
		{"composer_fragment_duration_seconds_count", `{fragment="recommendations",outcome="ok",version=""}`},
	} {
		if v := metricValue(t, inst.admin, want.name, want.labels); v != 1 {
			t.Errorf("%s%s = %v, want 1", want.name, want.labels, v)
		}
	}
}

func TestServerTimingHeader(t *testing.T) {
	inst := start(t, nil)
	resp, err := http.Get(inst.base + "/productdetails")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if st := resp.Header.Get("Server-Timing"); !strings.HasPrefix(st, "required;dur=") {
		t.Errorf("Server-Timing = %q", st)
	}
}

func TestPageBecomesCacheableOnceItsFragmentsAreCached(t *testing.T) {
	// The first answer waits until the test has the first page's header:
	// that page goes out before anything is cached, whatever the timing.
	firstHeader := make(chan struct{})
	release := sync.OnceFunc(func() { close(firstHeader) })
	var answers atomic.Int32
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answers.Add(1) == 1 {
			<-firstHeader
		}
		w.Header().Set("Cache-Control", "public, max-age=120, s-maxage=60")
		fmt.Fprint(w, "<b>cached</b>")
	}))
	defer frag.Close()
	// Bytes before the fragment: the header goes out with them.
	inst := start(t, onePageSite(t, `<p>before</p><micro-frontend id="f"/>`, frag.URL))
	ccOf := func() string {
		resp, err := http.Get(inst.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		release()
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("Cache-Control")
	}
	if cc := ccOf(); cc != "no-store" {
		t.Errorf("first page (fragment not yet cached): %q, want no-store", cc)
	}
	cc := ccOf()
	if !strings.HasPrefix(cc, "public, max-age=0, s-maxage=") {
		t.Errorf("second page: %q, want public with the fragment's s-maxage", cc)
	}
	if v := metricValue(t, inst.admin, "composer_fragment_cache_total", `{result="hit"}`); v < 1 {
		t.Errorf("cache hits = %v", v)
	}
}

// The fragment connection pool's figures are on /metrics: two pages of one
// plain-http fragment, one after the other, dial one connection and reuse
// it, and hold it idle after.
func TestThePoolsFiguresAreMetrics(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<b>f</b>")
	}))
	defer frag.Close()
	inst := start(t, onePageSite(t, `<p>before</p><micro-frontend id="f"/>`, frag.URL))
	for range 2 {
		_, body := get(t, inst.base+"/", nil)
		if !strings.Contains(body, "<b>f</b>") {
			t.Fatalf("page: %q", body)
		}
	}
	for name, want := range map[string]float64{
		"composer_fragment_connections_dialled_total":      1,
		"composer_fragment_connections_reused_total":       1,
		"composer_fragment_connections_idle":               1,
		"composer_fragment_connections_found_closed_total": 0,
		"composer_fragment_dials_waited_total":             0,
		"composer_fragment_dials_late_total":               0,
	} {
		if v := metricValue(t, inst.admin, name, ""); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}

// onePageSite is the environment of a composer serving one page, "/",
// from the template page, whose fragment "f" is at fragURL.
func onePageSite(t *testing.T, page, fragURL string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), page)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"f": %q}`, fragURL))
	return map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile}
}
