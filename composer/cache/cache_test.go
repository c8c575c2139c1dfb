package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// clock is a settable time for cache tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type origin struct {
	calls   atomic.Int64
	url     string
	handler atomic.Pointer[http.HandlerFunc]
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{}
	o.handler.Store(&h)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.calls.Add(1)
		(*o.handler.Load())(w, r)
	}))
	t.Cleanup(s.Close)
	o.url = s.URL
	return o
}

func (o *origin) set(h http.HandlerFunc) { o.handler.Store(&h) }

// waitCount waits until n has reached want, or 20 s have passed (the
// caller then checks n, so a shortfall fails the test, not a hang).
func waitCount(n *atomic.Int64, want int64) {
	deadline := time.Now().Add(20 * time.Second)
	for n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func newTestCache(t *testing.T, maxBytes int64) (*Cache, *clock, *sync.Map) {
	t.Helper()
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	results := &sync.Map{}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c := New(h, maxBytes, func(r string) {
		v, _ := results.LoadOrStore(r, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	})
	c.now = clk.now
	t.Cleanup(c.Wait)
	return c, clk, results
}

func get(t *testing.T, c *Cache, url string, header http.Header) (int, string, error) {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	resp, err := c.Fetch(context.Background(), &fetch.Request{Endpoint: url, Header: header})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status, string(b), nil
}

func serve(cc, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		io.WriteString(w, body)
	}
}

func TestCacheDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cc       string
		advance  time.Duration
		upstream int64 // calls for two fetches with advance between them
	}{
		{"max-age=60", 30 * time.Second, 1},
		{"max-age=60", 61 * time.Second, 2},
		{"public, s-maxage=10, max-age=600", 11 * time.Second, 2}, // s-maxage wins in a shared cache
		{"s-maxage=600, max-age=0", 300 * time.Second, 1},
		{"no-store, max-age=60", 0, 2},
		{"private, max-age=60", 0, 2},
		{"no-cache, max-age=60", 0, 2},
		{"", 0, 2},
		{"max-age=0", 0, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.cc, tt.advance), func(t *testing.T) {
			t.Parallel()
			c, clk, _ := newTestCache(t, 1<<20)
			o := newOrigin(t, serve(tt.cc, "<p>x</p>"))
			for i := range 2 {
				if i == 1 {
					clk.add(tt.advance)
				}
				if status, body, err := get(t, c, o.url, nil); err != nil || status != 200 || body != "<p>x</p>" {
					t.Fatalf("fetch %d: %d %q %v", i, status, body, err)
				}
			}
			if got := o.calls.Load(); got != tt.upstream {
				t.Errorf("upstream calls = %d, want %d", got, tt.upstream)
			}
		})
	}
}

func TestCacheVary(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	for _, lang := range []string{"de", "fr", "de", "fr", "de"} {
		_, body, _ := get(t, c, o.url, http.Header{"Accept-Language": {lang}})
		if body != "lang="+lang {
			t.Errorf("%s: got %q", lang, body)
		}
	}
	if n := o.calls.Load(); n != 2 {
		t.Errorf("upstream calls = %d, want one per language", n)
	}
	o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "*")
		io.WriteString(w, "star")
	})
	c2, _, _ := newTestCache(t, 1<<20)
	get(t, c2, o.url, nil)
	get(t, c2, o.url, nil)
	if n := o.calls.Load(); n != 4 {
		t.Errorf("Vary: * was cached (%d calls)", n)
	}
}

func TestCacheCoalescesConcurrentMisses(t *testing.T) {
	t.Parallel()
	c, clk, results := newTestCache(t, 1<<20)
	o := newOrigin(t, serve("max-age=60", "shared"))
	// The cache learns that the fragment is cacheable, then the entry
	// expires: the next misses are coalesced.
	get(t, c, o.url, nil)
	clk.add(2 * time.Minute)
	o.calls.Store(0)
	results.Delete(Miss)
	release := make(chan struct{})
	o.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "shared")
	})
	const n = 20
	var wg sync.WaitGroup
	bodies := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body, err := get(t, c, o.url, nil)
			if err != nil {
				body = err.Error()
			}
			bodies <- body
		}()
	}
	// Let every request arrive while the first is held upstream.
	waitCount(&o.calls, 1)
	time.Sleep(50 * time.Millisecond) // not a timing claim: more waiters only make the test stronger
	close(release)
	wg.Wait()
	close(bodies)
	for b := range bodies {
		if b != "shared" {
			t.Errorf("body %q", b)
		}
	}
	if got := o.calls.Load(); got != 1 {
		t.Errorf("%d concurrent identical requests made %d upstream calls, want 1", n, got)
	}
	if v, ok := results.Load(Miss); !ok || v.(*atomic.Int64).Load() != 1 {
		t.Errorf("misses = %v", v)
	}
}

func TestCacheStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	c, clk, results := newTestCache(t, 1<<20)
	o := newOrigin(t, serve("max-age=10, stale-while-revalidate=60", "v1"))
	get(t, c, o.url, nil)
	clk.add(20 * time.Second)
	release := make(chan struct{})
	o.set(func(w http.ResponseWriter, r *http.Request) {
		<-release // the refresh is slow; pages must not wait for it
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		io.WriteString(w, "v2")
	})
	for range 5 {
		if _, body, _ := get(t, c, o.url, nil); body != "v1" {
			t.Fatalf("stale read = %q, want v1 at once", body)
		}
	}
	close(release)
	c.Wait()
	if got := o.calls.Load(); got != 2 {
		t.Errorf("upstream calls = %d, want 2 (one refresh for five stale reads)", got)
	}
	if _, body, _ := get(t, c, o.url, nil); body != "v2" {
		t.Errorf("after the refresh: %q", body)
	}
	if v, _ := results.Load(Stale); v.(*atomic.Int64).Load() != 5 {
		t.Errorf("stale results = %d", v.(*atomic.Int64).Load())
	}
	clk.add(100 * time.Second) // past max-age and the window: a plain miss
	get(t, c, o.url, nil)
	if got := o.calls.Load(); got != 3 {
		t.Errorf("upstream calls = %d after the window, want 3", got)
	}
}

func TestCacheStaleIfError(t *testing.T) {
	t.Parallel()
	c, clk, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, serve("max-age=10, stale-if-error=300", "good"))
	get(t, c, o.url, nil)
	clk.add(60 * time.Second)
	o.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	if status, body, err := get(t, c, o.url, nil); err != nil || status != 200 || body != "good" {
		t.Errorf("during the outage: %d %q %v, want the stale copy", status, body, err)
	}
	clk.add(300 * time.Second)
	if status, _, _ := get(t, c, o.url, nil); status != http.StatusServiceUnavailable {
		t.Errorf("past stale-if-error: %d, want the 503", status)
	}
}

func TestCacheIsBoundedLRU(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 64<<10)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, strings.Repeat("x", 4<<10))
	})
	for i := range 100 {
		get(t, c, fmt.Sprintf("%s/?n=%d", o.url, i), nil)
	}
	c.mu.Lock()
	size, n := c.size, c.lru.Len()
	c.mu.Unlock()
	if size > 64<<10 || n >= 100 || n == 0 {
		t.Errorf("cache holds %d entries, %d bytes; want at most 64 KiB", n, size)
	}
	calls := o.calls.Load()
	get(t, c, o.url+"/?n=99", nil) // recent: still cached
	get(t, c, o.url+"/?n=0", nil)  // oldest: evicted
	if got := o.calls.Load() - calls; got != 1 {
		t.Errorf("%d upstream calls, want 1 (only the evicted one)", got)
	}
}

func TestCacheMissStreams(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second")
	})
	resp, err := c.Fetch(context.Background(), &fetch.Request{Endpoint: o.url, Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first," {
		t.Fatalf("first part: %q %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(rest) != "second" {
		t.Errorf("rest = %q", rest)
	}
	if _, body, _ := get(t, c, o.url, nil); body != "first,second" || o.calls.Load() != 1 {
		t.Errorf("cached body %q after %d calls", body, o.calls.Load())
	}
}

func TestCacheNeverSeenFragmentsAreNotCoalesced(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	release := make(chan struct{})
	var arrived atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, c, o.url, nil) }()
	}
	waitCount(&arrived, 3)
	close(release)
	wg.Wait()
	if n := arrived.Load(); n != 3 {
		t.Errorf("%d of 3 first requests reached the origin; a fragment never seen must not make requests wait", n)
	}
	get(t, c, o.url, nil)
	if n := o.calls.Load(); n != 3 {
		t.Errorf("after the first answers, %d upstream calls; want the cached copy served", n)
	}
}

// A fragment that was cacheable and no longer is stops being coalesced:
// after its first uncacheable answer, identical requests go upstream side
// by side instead of waiting for one another.
func TestCacheNoLongerCacheableIsNotCoalesced(t *testing.T) {
	t.Parallel()
	c, clk, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, serve("max-age=60", "public"))
	get(t, c, o.url, nil) // known cacheable
	clk.add(2 * time.Minute)
	o.set(serve("private", "mine"))
	get(t, c, o.url, nil) // its answer is private now
	release := make(chan struct{})
	var arrived atomic.Int64
	o.set(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
		w.Header().Set("Cache-Control", "private")
		io.WriteString(w, "mine")
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, c, o.url, nil) }()
	}
	waitCount(&arrived, 4)
	got := arrived.Load()
	close(release)
	wg.Wait()
	if got != 4 {
		t.Errorf("%d of 4 requests reached the origin before the first answered; they were queued behind a leader", got)
	}
}

// Two slots asking the same fragment with the same query are two renders
// (React's ids are drawn from the slot's identity): the slot is part of
// the key, else the second slot gets the first one's ids.
func TestCacheKeysOnTheSlot(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "slot="+r.Header.Get(fetch.SlotHeader))
	})
	for _, slot := range []string{"s0", "s1", "s0", "s1"} {
		if _, body, _ := get(t, c, o.url, http.Header{fetch.SlotHeader: {slot}}); body != "slot="+slot {
			t.Errorf("slot %s: got %q", slot, body)
		}
	}
	if n := o.calls.Load(); n != 2 {
		t.Errorf("upstream calls = %d, want one per slot", n)
	}
}

// An entry that sends Podium's mount pathname receives the page's path:
// the path is in its key, as a function endpoint's is.
func TestCacheKeysOnPodiumContext(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.Header.Get(fetch.PodiumMountPathname)+" "+r.Header.Get(fetch.PodiumLocale))
	})
	for _, h := range []http.Header{
		{fetch.PodiumMountPathname: {"/a"}, fetch.PodiumLocale: {"de"}},
		{fetch.PodiumMountPathname: {"/b"}, fetch.PodiumLocale: {"de"}},
		{fetch.PodiumMountPathname: {"/a"}, fetch.PodiumLocale: {"fr"}},
		{fetch.PodiumMountPathname: {"/a"}, fetch.PodiumLocale: {"de"}},
	} {
		want := h.Get(fetch.PodiumMountPathname) + " " + h.Get(fetch.PodiumLocale)
		if _, body, _ := get(t, c, o.url, h); body != want {
			t.Errorf("got %q, want %q", body, want)
		}
	}
	if n := o.calls.Load(); n != 3 {
		t.Errorf("upstream calls = %d, want one per path and locale", n)
	}
}
