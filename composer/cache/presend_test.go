package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/presendtest"
)

// presender is the bottom of a chain under test (presendtest.Recorder),
// with the results the cache's observer was told (newPresendCache wires
// it): a part of the cache's state here.
type presender struct {
	*presendtest.Recorder
	observed atomic.Int64
}

// newPresendCache is newTestCache with a presender at the bottom, which
// says yes.
func newPresendCache(t *testing.T) (*Cache, *clock, *presender) {
	t.Helper()
	c, clk, results := newTestCache(t, 1<<20)
	p := &presender{Recorder: presendtest.New(c.next, false)}
	p.Answer.Store(true)
	c.next = p
	c.observe = func(r string) {
		v, _ := results.LoadOrStore(r, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		p.observed.Add(1)
	}
	return c, clk, p
}

// state is everything the cache holds, as text: its entries in their
// order of use, their queries (with their flights), its size, and how
// many results the observer was told.
func state(c *Cache, p *presender) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "observed %d\n", p.observed.Load())
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*cacheEntry)
		fmt.Fprintf(&b, "entry %q stored %v refreshing %v\n", e.key, e.stored, e.refreshing)
	}
	keys := make([]string, 0, len(c.queries))
	for k := range c.queries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q := c.queries[k]
		fmt.Fprintf(&b, "query %q vary %q entries %d coalesce %v flight %p\n", k, q.vary, q.entries, q.coalesce, q.flight)
	}
	fmt.Fprintf(&b, "size %d", c.size)
	return b.String()
}

// presend sends req ahead through c and checks that it changed nothing
// in the cache, that it reported want, and that the bottom was asked
// (called) or not.
func presend(t *testing.T, c *Cache, p *presender, req *fetch.Request, want, called bool) {
	t.Helper()
	before, calls := state(c, p), p.Calls()
	if got := c.Presend(context.Background(), req); got != want {
		t.Errorf("Presend = %v, want %v", got, want)
	}
	if got := p.Calls() - calls; got != map[bool]int{false: 0, true: 1}[called] {
		t.Errorf("the bottom transport was asked %d times, want %v", got, called)
	}
	if after := state(c, p); after != before {
		t.Errorf("Presend changed the cache:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// fetchFrom fetches req through c, reads its body, and returns what the
// cache served it from.
func fetchFrom(t *testing.T, c *Cache, req *fetch.Request) string {
	t.Helper()
	resp, err := c.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.Cache
}

func req(url string, header http.Header) *fetch.Request {
	if header == nil {
		header = http.Header{}
	}
	return &fetch.Request{Endpoint: url, Fragment: "f", Header: header}
}

// A miss goes ahead: the cache asks the transport below and reports its
// answer, and the Fetch that follows is a miss as without Presend.
func TestPresendPassesAMissThrough(t *testing.T) {
	t.Parallel()
	c, _, p := newPresendCache(t)
	o := newOrigin(t, serve("max-age=60", "x"))
	presend(t, c, p, req(o.url, nil), true, true)
	p.Answer.Store(false)
	presend(t, c, p, req(o.url, nil), false, true)
	if got := o.calls.Load(); got != 0 {
		t.Errorf("the fragment got %d requests from Presend, want 0", got)
	}
	if from := fetchFrom(t, c, req(o.url, nil)); from != Miss {
		t.Errorf("Fetch after Presend: %q, want a miss", from)
	}
	if got := o.calls.Load(); got != 1 {
		t.Errorf("the fragment got %d requests, want 1", got)
	}
}

// A fresh entry is the cache's answer: nothing goes ahead, and the entry
// is not even marked as used (the Fetch does that).
func TestPresendSendsNothingForAFreshEntry(t *testing.T) {
	t.Parallel()
	c, _, p := newPresendCache(t)
	a := newOrigin(t, serve("max-age=60", "a"))
	b := newOrigin(t, serve("max-age=60", "b"))
	fetchFrom(t, c, req(a.url, nil))
	fetchFrom(t, c, req(b.url, nil)) // b is the most recently used
	presend(t, c, p, req(a.url, nil), false, false)
	if from := fetchFrom(t, c, req(a.url, nil)); from != Hit {
		t.Errorf("Fetch after Presend: %q, want a hit", from)
	}
}

// An entry stale within stale-while-revalidate is the cache's answer too:
// nothing goes ahead, and no revalidation starts.
func TestPresendSendsNothingForAnEntryWithinSWR(t *testing.T) {
	t.Parallel()
	c, clk, p := newPresendCache(t)
	o := newOrigin(t, serve("max-age=10, stale-while-revalidate=60", "x"))
	fetchFrom(t, c, req(o.url, nil))
	clk.add(30 * time.Second)
	presend(t, c, p, req(o.url, nil), false, false)
	c.Wait()
	if got := o.calls.Load(); got != 1 {
		t.Errorf("the fragment got %d requests, want 1: Presend revalidated", got)
	}
	if from := fetchFrom(t, c, req(o.url, nil)); from != Stale {
		t.Errorf("Fetch after Presend: %q, want stale", from)
	}
}

// An entry past stale-while-revalidate (or of no SWR) needs the fragment:
// the request goes ahead, and Fetch is still the leader that stores.
func TestPresendPassesAnExpiredEntryThrough(t *testing.T) {
	t.Parallel()
	c, clk, p := newPresendCache(t)
	o := newOrigin(t, serve("max-age=10, stale-while-revalidate=20", "x"))
	fetchFrom(t, c, req(o.url, nil))
	clk.add(time.Minute)
	// Known cacheable, no leader: this request would lead, and Presend
	// must not make it one (no flight).
	presend(t, c, p, req(o.url, nil), true, true)
	if from := fetchFrom(t, c, req(o.url, nil)); from != Miss {
		t.Errorf("Fetch after Presend: %q, want a miss", from)
	}
	if from := fetchFrom(t, c, req(o.url, nil)); from != Hit {
		t.Errorf("the next Fetch: %q, want a hit (the miss was stored)", from)
	}
}

// An identical request waits for another page's leader in flight: nothing
// goes ahead. One with credentials never waits: it goes ahead.
func TestPresendSendsNothingWhileALeaderIsInFlight(t *testing.T) {
	t.Parallel()
	c, clk, p := newPresendCache(t)
	o := newOrigin(t, serve("max-age=60", "x"))
	fetchFrom(t, c, req(o.url, nil)) // known cacheable from now on
	clk.add(2 * time.Minute)
	release := make(chan struct{})
	o.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		serve("max-age=60", "y")(w, r)
	})
	led := make(chan string, 1)
	go func() {
		resp, err := c.Fetch(context.Background(), req(o.url, nil))
		if err != nil {
			led <- err.Error()
			return
		}
		resp.Body.Close()
		led <- resp.Cache
	}()
	waitCount(&o.calls, 2)
	presend(t, c, p, req(o.url, nil), false, false)
	presend(t, c, p, req(o.url, http.Header{"Cookie": {"id=1"}}), true, true)
	close(release)
	if from := <-led; from != Miss {
		t.Fatalf("leader: %q", from)
	}
}

// A request that would lead the identical ones goes ahead, and makes no
// flight: another page's identical request still leads its own.
func TestPresendMakesNoFlight(t *testing.T) {
	t.Parallel()
	c, clk, p := newPresendCache(t)
	o := newOrigin(t, serve("max-age=60", "x"))
	fetchFrom(t, c, req(o.url, nil))
	clk.add(2 * time.Minute)
	presend(t, c, p, req(o.url, nil), true, true)
	presend(t, c, p, req(o.url, nil), true, true)
}

// An override request is one visitor's: the cache sends none ahead.
func TestPresendSendsNoOverride(t *testing.T) {
	t.Parallel()
	c, _, p := newPresendCache(t)
	o := newOrigin(t, serve("max-age=60", "x"))
	r := req(o.url, nil)
	r.Override = true
	presend(t, c, p, r, false, false)
}

// Above a transport that cannot send ahead, nothing is sent.
func TestPresendNeedsAPresenderBelow(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	c.next = presendtest.Plain{Transport: c.next}
	o := newOrigin(t, serve("max-age=60", "x"))
	if c.Presend(context.Background(), req(o.url, nil)) {
		t.Errorf("Presend = true above a transport that is not a Presender")
	}
}

// Most fragments are never stored (no-store, private, a cookie): a page
// sends each ahead and then fetches it. For an endpoint with nothing
// held, neither builds the request's key (it costs a string and two
// lookups a fragment, for nothing); the answer is still passed through,
// twice, as a bypass. Once an answer of the endpoint is stored, the key
// is built and the stored answer found.
func TestAFragmentNeverStoredCostsNoKey(t *testing.T) {
	t.Parallel()
	c, _, p := newPresendCache(t)
	o := newOrigin(t, serve("no-store", "x"))
	for range 2 {
		r := req(o.url, nil)
		presend(t, c, p, r, true, true)
		if got := fetchFrom(t, c, r); got != Bypass {
			t.Errorf("served from %q, want %q", got, Bypass)
		}
		if r.CacheKey != "" {
			t.Fatalf("a fragment never stored got its key built: %q", r.CacheKey)
		}
	}
	o.set(serve("max-age=60", "y"))
	if got := fetchFrom(t, c, req(o.url, nil)); got != Miss {
		t.Errorf("served from %q, want %q", got, Miss)
	}
	r := req(o.url, nil)
	presend(t, c, p, r, false, false)
	if got := fetchFrom(t, c, r); got != Hit {
		t.Errorf("served from %q, want %q", got, Hit)
	}
	if r.CacheKey == "" {
		t.Error("a stored fragment's request was answered without its key")
	}
	if n := o.calls.Load(); n != 3 {
		t.Errorf("the fragment got %d requests, want 3", n)
	}
}

// staticTransport answers every request with the same response, and
// allocates nothing.
type staticTransport struct{ resp *fetch.Response }

func (s staticTransport) Fetch(context.Context, *fetch.Request) (*fetch.Response, error) {
	return s.resp, nil
}

// A fragment never stored costs the cache no allocation at all: no key,
// no closure for a flight it does not lead.
func TestABypassAllocatesNothing(t *testing.T) {
	resp := &fetch.Response{Status: 200, Header: http.Header{"Cache-Control": {"no-store"}}, Body: io.NopCloser(strings.NewReader(""))}
	c := New(staticTransport{resp}, 1<<20, nil)
	req := &fetch.Request{Endpoint: "http://127.0.0.1:1/f", Fragment: "f", Header: http.Header{}}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if got, err := c.Fetch(ctx, req); err != nil || got.Cache != Bypass {
			t.Fatalf("%v, %v", got, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations a bypass, want none", allocs)
	}
}
