package breaker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// pages serves src at "/" on loopback, composed by a stream composer whose
// transport is chain (built around the breaker Transport of e).
func pages(t *testing.T, e *env, fetcher fetch.Transport, src string) string {
	t.Helper()
	tpl, err := template.Compile("page.html", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := &stream.Composer{Fetch: fetcher, Registry: e.reg, Log: slog.New(slog.NewTextHandler(e.log, nil)), Timeout: safety}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Serve(w, r, &stream.Page{Template: tpl, RequestID: "req"})
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func getPage(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
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

// An open breaker: an optional fragment's fallback at once, a required
// fragment's error page at once with Retry-After; neither is asked.
func TestOpenBreakerOnAPage(t *testing.T) {
	t.Parallel()
	recs := newServer(t, status(500))
	cart := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{
		"recs": {Endpoint: recs.URL, Breaker: registry.Breaker{OpenFor: time.Minute}},
		"cart": {Endpoint: cart.URL, Breaker: registry.Breaker{OpenFor: time.Minute}},
	})
	optional := pages(t, e, e.tr, `<html><body><micro-frontend id="recs"><p>no recommendations</p></micro-frontend></body></html>`)
	required := pages(t, e, e.tr, `<html><body><micro-frontend id="cart" errorbehaviour="error"/></body></html>`)
	for range breaker.DefaultConsecutiveFailures {
		getPage(t, optional)
		getPage(t, required)
	}
	e.wantState("recs", "", gobreaker.StateOpen)
	e.wantState("cart", "", gobreaker.StateOpen)
	for range 10 {
		resp, body := getPage(t, optional)
		if resp.StatusCode != 200 || !strings.Contains(body, "<p>no recommendations</p>") {
			t.Fatalf("optional fragment, open breaker: %d %q, want 200 with the fallback", resp.StatusCode, body)
		}
		resp, _ = getPage(t, required)
		// Retry-After is what is left of the open minute, in whole seconds.
		if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusServiceUnavailable || ra < 1 || ra > 60 {
			t.Fatalf("required fragment, open breaker: %d Retry-After %q, want 503 with Retry-After from 1 to 60", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if recs.hits.Load() != breaker.DefaultConsecutiveFailures || cart.hits.Load() != breaker.DefaultConsecutiveFailures {
		t.Errorf("requests while open: recs %d, cart %d; want none beyond the first %d", recs.hits.Load(), cart.hits.Load(), breaker.DefaultConsecutiveFailures)
	}
}

// The cache comes before the breaker: while a breaker is open (here opened
// by a failing query, as a visitor could), a fresh cached answer is still
// served, and an uncached query gets the fallback without asking.
func TestCacheIsAskedBeforeTheBreaker(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("q") == "bad" {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "<p>results for "+r.URL.Query().Get("q")+"</p>")
	})
	e := newEnv(t, map[string]registry.Entry{"search": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	url := pages(t, e, cache.New(e.tr, 1<<20, nil), `<html><body><micro-frontend id="search">fallback</micro-frontend></body></html>`)
	if _, body := getPage(t, url+"?q=shoes"); !strings.Contains(body, "results for shoes") {
		t.Fatalf("page: %q", body)
	}
	for range breaker.DefaultMinRequests {
		getPage(t, url+"?q=bad")
	}
	e.wantState("search", "", gobreaker.StateOpen)
	hits := s.hits.Load()
	if _, body := getPage(t, url+"?q=shoes"); !strings.Contains(body, "results for shoes") {
		t.Errorf("a cached answer while the breaker is open: %q", body)
	}
	if _, body := getPage(t, url+"?q=boots"); !strings.Contains(body, "fallback") {
		t.Errorf("an uncached query while the breaker is open: %q", body)
	}
	if s.hits.Load() != hits {
		t.Errorf("%d requests reached the fragment while open", s.hits.Load()-hits)
	}
}

// blackhole accepts connections and never answers; it counts the requests
// it receives.
type blackhole struct {
	addr     string
	requests atomic.Int64
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{addr: l.Addr().String()}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			conns.Go(func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					b.requests.Add(int64(strings.Count(string(buf[:n]), "GET ")))
					if err != nil {
						return
					}
				}
			})
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	return b
}

// The soak: a few thousand pages of five fragments while one of them
// flaps (healthy, dead, slow, healthy). The breaker follows it, every page
// is complete and within its deadlines (the client never times out), and
// each page shows the flapping fragment or its fallback as its state says.
func TestSoakFlappingFragment(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("soak")
	}
	healthy := newServer(t, ok)
	var phase atomic.Int32 // 0 healthy, 1 dead, 2 slow, 3 healthy
	const (
		healthyA = iota
		dead
		slow
		healthyB
	)
	flap := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch phase.Load() {
		case dead:
			// Refuses nothing, answers nothing: hijack and hold the
			// connection until the composer gives up.
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				defer c.Close()
				_, _ = c.Read(make([]byte, 1))
			}
			return
		case slow:
			select {
			case <-time.After(10 * time.Second): // far beyond its deadline
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "<p>flap ok</p>")
	})
	const openFor = 20 * time.Millisecond // below what an entry may say: a short test
	entries := map[string]registry.Entry{
		// The open time may double a few times while the fragment is
		// down, not up to the default cap: the healthy phase that follows
		// must see a probe within its pages.
		"flap": {Endpoint: flap.URL, Breaker: registry.Breaker{OpenFor: openFor, MaxOpenFor: 4 * openFor}},
	}
	var src strings.Builder
	src.WriteString("<html><body>\n")
	// A deadline a starved machine (-race, two cores, other tests) still
	// meets while the fragment is healthy: five misses in a row reopen it.
	src.WriteString(`<micro-frontend id="flap" timeout="2s"><p>flap fallback</p></micro-frontend>` + "\n")
	for i := range 4 {
		id := fmt.Sprintf("f%d", i)
		entries[id] = registry.Entry{Endpoint: healthy.URL}
		fmt.Fprintf(&src, `<micro-frontend id=%q timeout="5s"><p>%s fallback</p></micro-frontend>`+"\n", id, id)
	}
	src.WriteString("</body></html>\n")
	e := newEnv(t, entries)
	url := pages(t, e, e.tr, src.String())

	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: safety}
	type result struct {
		phase   int32
		before  gobreaker.State
		content bool
		err     error
	}
	const minPerPhase, maxPerPhase = 600, 1000
	// Where each phase must leave the breaker: closed when healthy; open
	// or half-open (probing once per openFor) while the fragment is down.
	reached := func(p int32) bool {
		closed := e.tr.State("flap", "") == gobreaker.StateClosed
		return closed == (p == healthyA || p == healthyB)
	}
	var results []result
	var mu sync.Mutex
	for p := range int32(4) {
		phase.Store(p)
		var n atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					i := n.Add(1)
					if i > maxPerPhase || i > minPerPhase && reached(p) {
						return
					}
					r := result{phase: p, before: e.tr.State("flap", "")}
					resp, err := client.Get(url)
					if err == nil {
						var b []byte
						b, err = io.ReadAll(resp.Body)
						resp.Body.Close()
						body := string(b)
						switch {
						case err != nil:
						case resp.StatusCode != 200 || !strings.HasSuffix(body, "</body></html>\n"):
							err = fmt.Errorf("page %d, incomplete: %q", resp.StatusCode, body)
						case strings.Count(body, "<p>fragment</p>") != 4:
							err = fmt.Errorf("the healthy fragments are not all there: %q", body)
						case strings.Contains(body, "<p>flap ok</p>") == strings.Contains(body, "<p>flap fallback</p>"):
							err = fmt.Errorf("want the flapping fragment or its fallback, once: %q", body)
						}
						r.content = strings.Contains(body, "<p>flap ok</p>")
					}
					r.err = err
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if !reached(p) {
			t.Fatalf("phase %d: the breaker is %s after %d pages", p, e.tr.State("flap", ""), maxPerPhase)
		}
	}
	counts := map[string]int{}
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("phase %d: %v", r.phase, r.err)
		}
		switch {
		case r.content && (r.phase == dead || r.phase == slow):
			t.Fatalf("phase %d: the flapping fragment's content while it could not answer", r.phase)
		case !r.content && r.phase == healthyA:
			t.Fatalf("healthy phase, closed breaker: the fallback was shown; log:\n%s", firstLines(e.log.String(), 5))
		}
		counts[fmt.Sprintf("phase %d, %s before, content %v", r.phase, r.before, r.content)]++
	}
	t.Logf("%d pages: %v", len(results), counts)
	if len(results) < 4*minPerPhase || len(results) > 4*maxPerPhase {
		t.Errorf("%d pages", len(results))
	}
	logs := e.log.String()
	for msg, want := range map[string]int{"circuit breaker opened": 1, "circuit breaker closed": 1} {
		if n := strings.Count(logs, msg); n != want {
			t.Errorf("%q logged %d times, want %d", msg, n, want)
		}
	}
}

// A blackholed fragment (it accepts connections and never answers) opens
// its breaker after the volume and rate rule; then it receives nothing
// while open.
func TestBlackholedFragmentIsNotAskedWhileOpen(t *testing.T) {
	t.Parallel()
	hole := newBlackhole(t)
	url := "http://" + hole.addr + "/f"
	e := newEnv(t, map[string]registry.Entry{"hole": {Endpoint: url, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	for range breaker.DefaultMinRequests {
		if _, err := e.get(context.Background(), "hole", "", url, 20*time.Millisecond); err == nil {
			t.Fatal("the blackhole answered")
		}
	}
	e.wantState("hole", "", gobreaker.StateOpen)
	// The requests that timed out before they were written never reached
	// it; the bytes of the others may still be on their way: settle.
	before := int64(-1)
	for before != hole.requests.Load() {
		before = hole.requests.Load()
		time.Sleep(50 * time.Millisecond)
	}
	for range 100 {
		e.get(context.Background(), "hole", "", url, 20*time.Millisecond)
	}
	if got := hole.requests.Load(); got != before || got == 0 {
		t.Errorf("the blackhole received %d requests before the breaker opened and %d after, want some and none", before, got-before)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// What docs/resilience.md says of a cached fragment: its good answers,
// served from the cache, never count, so however many pages the site
// serves from the cache, minRequests failing misses open the breaker; the
// cached answers are still served.
func TestCachedGoodTrafficDoesNotCount(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("bad") != "" {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "<p>good</p>")
	})
	e := newEnv(t, map[string]registry.Entry{"q": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	url := pages(t, e, cache.New(e.tr, 1<<20, nil), `<html><body><micro-frontend id="q">fallback</micro-frontend></body></html>`)
	for range 200 {
		getPage(t, url+"?page=1")
	}
	if got := s.hits.Load(); got != 1 {
		t.Fatalf("%d of 200 pages reached the fragment, want 1 (the rest are cache hits)", got)
	}
	for range breaker.DefaultMinRequests {
		getPage(t, url+"?bad=1")
	}
	e.wantState("q", "", gobreaker.StateOpen)
	if _, body := getPage(t, url+"?page=1"); !strings.Contains(body, "<p>good</p>") {
		t.Errorf("the cached answer while open: %q", body)
	}
}
