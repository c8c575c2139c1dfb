// Package cache is the composer's shared fragment cache, in front of any
// fetch.Transport, and the rules (RFC 9111 for a shared cache, plus a few
// of our own) that decide what it may keep and what a page that used an
// answer may let a CDN keep. docs/caching.md states the rules.
package cache

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// Cache is a shared HTTP cache for fragments in front of any Transport. It
// honours the fragment's Cache-Control (max-age, s-maxage,
// stale-while-revalidate, stale-if-error, no-store, private, no-cache,
// public, must-revalidate), Vary, and the credentials of the request
// (see Decide); it coalesces concurrent identical misses into one upstream
// call; and everything it keeps (bodies, headers, keys, the index of what
// each query varies on, coalescing state) counts against MaxBytes, least
// recently used out.
//
// The first response streams through to its page while it is copied into
// the cache, so a miss costs no latency. Every answer handed out from the
// cache carries its Age (the time it was held here; the Age header it came
// with, which Decide reads, is added to it: RFC 9111 §4.2.3), so that the
// page can tell how fresh it is.
type Cache struct {
	next     fetch.Transport
	maxBytes int64
	observe  func(result string)
	now      func() time.Time

	mu      sync.Mutex
	lru     *list.List               // of *cacheEntry, most recent first
	entries map[string]*list.Element // by full key
	queries map[string]*query        // by primary key: what its answers vary on, its leader in flight
	size    int64                    // bytes of entries and queries
	// byEndpoint counts the queries held for each fragment endpoint
	// (a query is held while an entry is stored under it or a leader is
	// in flight for it): a request for an endpoint with none can be
	// answered from nothing and waits for no one, so Peek, Presend and
	// Fetch decide without building its key.
	byEndpoint map[string]int
	wg         sync.WaitGroup // background revalidations
}

// Cache results, for the observer: what one Fetch was served from.
const (
	Hit          = "hit"
	Miss         = "miss"
	Stale        = "stale"          // stale-while-revalidate: served stale, refreshed in the background
	StaleIfError = "stale_if_error" // the upstream failed, stale served
	Coalesced    = "coalesced"      // waited for an identical request in flight
	Bypass       = "bypass"         // not cacheable
)

// query is what the cache knows of one primary key (fragment and page
// query): it exists while an entry is stored under it or a leader is in
// flight for it, and its bytes count against the bound.
type query struct {
	key      string
	endpoint string   // the requests', counted in Cache.byEndpoint
	vary     []string // the request headers its last stored answer varies on
	entries  int      // entries stored under it
	coalesce bool     // its last answer was stored: identical misses may wait for a leader
	flight   *flight  // the request in flight that others wait for
}

func (q *query) size() int64 {
	n := int64(len(q.key)) + 160
	for _, v := range q.vary {
		n += int64(len(v)) + 16
	}
	return n
}

// flight is a leader's upstream call that identical requests wait for.
type flight struct {
	done   chan struct{}
	stored bool // set before done is closed
}

type cacheEntry struct {
	key        string
	q          *query
	status     int
	header     http.Header
	body       []byte
	stored     time.Time
	d          Decision
	refreshing bool
	bytes      int64
}

// entrySize estimates what an entry holds on the heap.
func entrySize(key string, h http.Header, body []byte) int64 {
	n := int64(len(key)+len(body)) + 256
	for k, vs := range h {
		n += int64(len(k)) + 48
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}

// New returns a cache of at most maxBytes in front of next. observe, if
// not nil, is told each Fetch's result (Hit, Miss, ...).
func New(next fetch.Transport, maxBytes int64, observe func(result string)) *Cache {
	return &Cache{
		next: next, maxBytes: maxBytes, observe: observe, now: time.Now,
		lru: list.New(), entries: map[string]*list.Element{}, queries: map[string]*query{}, byEndpoint: map[string]int{},
	}
}

// Wait waits for background revalidations to end (for tests and shutdown).
func (c *Cache) Wait() { c.wg.Wait() }

// primaryKey is everything the transport sends that can change the
// answer, but the visitor's headers (those are Vary's and the credential
// rules'): the fragment, the query and the composer's own headers
// (fetch.ComposerHeaders), and for a function endpoint (Lambda, Step
// Functions), whose event carries them, the page's path and route
// parameters too (RFC 9111 §2). An HTTP fragment receives neither, so its
// key leaves them out and one entry serves every page. It is made once a
// request (Peek, Presend and Fetch each need it, unless nothing is held
// for the endpoint: see Cache.byEndpoint) and kept in req.CacheKey.
func primaryKey(req *fetch.Request) string {
	if req.CacheKey == "" {
		req.CacheKey = makePrimaryKey(req)
	}
	return req.CacheKey
}

func makePrimaryKey(req *fetch.Request) string {
	var b strings.Builder
	// One allocation for an HTTP fragment's key: every fragment of every
	// page asks for one.
	size := len(req.Loader) + len(req.Endpoint) + len(req.RawQuery) + 2
	for _, name := range fetch.ComposerHeaders {
		if v := req.HeaderValues(name); v != nil {
			size += len(name) + 24
			for _, x := range v {
				size += len(x) + 1
			}
		}
	}
	b.Grow(size)
	b.WriteString(req.Loader)
	b.WriteByte(0)
	b.WriteString(req.Endpoint)
	b.WriteByte(0)
	b.WriteString(req.RawQuery)
	// The composer's own headers (the slot, Podium's context) change the
	// answer and are never a visitor's: each is part of the key, as the
	// query is: "\x00name=length:values joined by commas".
	var num [20]byte
	for _, name := range fetch.ComposerHeaders {
		if v := req.HeaderValues(name); v != nil {
			n := max(len(v)-1, 0)
			for _, x := range v {
				n += len(x)
			}
			b.WriteByte(0)
			b.WriteString(name)
			b.WriteByte('=')
			b.Write(strconv.AppendInt(num[:0], int64(n), 10))
			b.WriteByte(':')
			for i, x := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(x)
			}
		}
	}
	if fetch.Kind(req.Endpoint, req.Loader) != "url" {
		// Lengths first: a path or parameter (decoded, it may hold any
		// byte) cannot pass for another.
		fmt.Fprintf(&b, "\x00%d:%s", len(req.Path), req.Path)
		names := make([]string, 0, len(req.PathParams))
		for k := range req.PathParams {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, "\x00%d:%s%d:%s", len(k), k, len(req.PathParams[k]), req.PathParams[k])
		}
	}
	return b.String()
}

func fullKey(primary string, names []string, req *fetch.Request) string {
	if len(names) == 0 {
		return primary
	}
	var b strings.Builder
	b.WriteString(primary)
	for _, n := range names {
		b.WriteString("\x00")
		b.WriteString(strings.Join(req.HeaderValues(n), ",")) // n is canonical (Decide)
	}
	return b.String()
}

// personal reports whether req carries credentials: such requests never
// wait for another's answer nor make others wait for theirs.
func personal(req *fetch.Request) bool {
	return len(req.Header["Authorization"]) > 0 || len(req.Header["Cookie"]) > 0
}

func (c *Cache) result(r string) {
	if c.observe != nil {
		c.observe(r)
	}
}

// lookup returns the entry for req that req may use, if any, and marks
// it recently used. c.mu is held.
func (c *Cache) lookup(primary string, req *fetch.Request) *cacheEntry {
	el := c.find(primary, req)
	if el == nil {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

// find is lookup without the mark: it changes nothing. c.mu is held.
func (c *Cache) find(primary string, req *fetch.Request) *list.Element {
	q := c.queries[primary]
	if q == nil {
		return nil
	}
	el, ok := c.entries[fullKey(primary, q.vary, req)]
	if !ok || !el.Value.(*cacheEntry).d.usableFor(req) {
		return nil
	}
	return el
}

// age is the entry's current age (§4.2.3): the Age it arrived with plus
// the time it has been here.
func (e *cacheEntry) age(now time.Time) time.Duration {
	return e.d.Age + now.Sub(e.stored)
}

// response hands the entry out; its Age is the time it has been here (the
// Age header it arrived with is in its header).
func (e *cacheEntry) response(now time.Time) *fetch.Response {
	return &fetch.Response{Status: e.status, Header: e.header, Body: io.NopCloser(bytes.NewReader(e.body)), Age: now.Sub(e.stored)}
}

// Peek hands out at once a fresh stored answer for req, or nil: no
// upstream call, no waiting. A page calls it before its header goes out
// for the fragments it will not wait for, so that it knows what they are.
//
// An override request (fetch.Request.Override) is never answered from the
// cache: Peek returns nil.
func (c *Cache) Peek(req *fetch.Request) *fetch.Response {
	if req.Override {
		return nil
	}
	c.mu.Lock()
	if c.byEndpoint[req.Endpoint] == 0 {
		// Nothing held for it: no key to build, now or (if it is never
		// stored) at all.
		c.mu.Unlock()
		return nil
	}
	e := c.lookup(primaryKey(req), req)
	if e == nil {
		c.mu.Unlock()
		return nil
	}
	now := c.now()
	if e.age(now) >= e.d.Lifetime {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.answer(e.response(now), Hit)
}

// answer tells the observer what resp was served from, and marks resp
// with it (fetch.Response.Cache).
func (c *Cache) answer(resp *fetch.Response, result string) *fetch.Response {
	c.result(result)
	if resp != nil {
		resp.Cache = result
	}
	return resp
}

// Fetch implements fetch.Transport. An override request
// (fetch.Request.Override), whose endpoint is one visitor's, goes straight
// to the next transport: no lookup, no coalescing, nothing stored, nothing
// observed.
func (c *Cache) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	if req.Override {
		return c.next.Fetch(ctx, req)
	}
	coalesced := false
	for {
		c.mu.Lock()
		if c.byEndpoint[req.Endpoint] == 0 {
			// Nothing stored, no leader: no key needed unless the
			// answer is stored.
			c.mu.Unlock()
			return c.lead(ctx, req, nil, nil)
		}
		primary := primaryKey(req)
		e := c.lookup(primary, req)
		if e != nil {
			now := c.now()
			age := e.age(now)
			switch {
			case age < e.d.Lifetime:
				c.mu.Unlock()
				if coalesced {
					return c.answer(e.response(now), Coalesced), nil
				}
				return c.answer(e.response(now), Hit), nil
			case age < e.d.Lifetime+e.d.SWR:
				if !e.refreshing {
					e.refreshing = true
					c.wg.Add(1)
					go c.revalidate(req, e)
				}
				c.mu.Unlock()
				return c.answer(e.response(now), Stale), nil
			}
		}
		q := c.queries[primary]
		// Identical requests wait for a leader only when the fragment is
		// known to be cacheable (its last answer was stored) and the
		// request carries no credentials: for any other, waiting could
		// only add the leader's latency.
		if q == nil || !q.coalesce || personal(req) {
			c.mu.Unlock()
			return c.lead(ctx, req, e, nil)
		}
		f := q.flight
		if f == nil {
			f = &flight{done: make(chan struct{})}
			q.flight = f
			c.mu.Unlock()
			return c.lead(ctx, req, e, f)
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !f.stored {
			// Nothing to share (not cacheable, or the leader failed): go
			// upstream alone rather than queue behind another leader.
			resp, err := c.next.Fetch(ctx, req)
			return c.answer(resp, Miss), err
		}
		coalesced = true // look again: the entry is there now
	}
}

// Presend implements fetch.Presender: it sends req ahead through the next
// transport when its Fetch would most likely go upstream with it: a miss,
// an entry past its stale-while-revalidate, a request that would lead
// the identical ones. It sends nothing when Fetch would answer from the
// cache (an entry fresh, or stale within stale-while-revalidate) or wait
// for a leader in flight, nor for an override request. It only looks:
// the entries, their order of use, the flights and the observer are the
// Fetch's that follows, which decides again and may find the request it
// no longer needs already sent (the page then releases it).
func (c *Cache) Presend(ctx context.Context, req *fetch.Request) bool {
	if req.Override {
		return false
	}
	c.mu.Lock()
	answered := c.byEndpoint[req.Endpoint] > 0 && c.answered(primaryKey(req), req)
	c.mu.Unlock()
	if answered {
		return false
	}
	return fetch.Presend(c.next, ctx, req)
}

// answered reports whether Fetch would give req an answer without a
// request of its own upstream: from an entry, or from the leader it would
// wait for. It follows Fetch's conditions, and changes nothing. c.mu is
// held.
func (c *Cache) answered(primary string, req *fetch.Request) bool {
	if el := c.find(primary, req); el != nil {
		e := el.Value.(*cacheEntry)
		if e.age(c.now()) < e.d.Lifetime+e.d.SWR {
			return true
		}
	}
	q := c.queries[primary]
	return q != nil && q.coalesce && !personal(req) && q.flight != nil
}

// lead makes the upstream call for a miss, streams the body to the caller
// while copying it, and stores it if it may. f, if not nil, is the flight
// others wait for. The request's key is built only where it is needed:
// for a flight, an answer to store, or a query to find.
func (c *Cache) lead(ctx context.Context, req *fetch.Request, stale *cacheEntry, f *flight) (*fetch.Response, error) {
	// The flight ends in land, a method: a lead whose answer is not
	// stored (most) allocates no closure for it.
	resp, err := c.next.Fetch(ctx, req)
	if err != nil || resp.Status >= 500 {
		if stale != nil && stale.age(c.now()) < stale.d.Lifetime+stale.d.SIE && ctx.Err() == nil {
			if resp != nil {
				resp.Body.Close()
			}
			c.land(req, f, false)
			return c.answer(stale.response(c.now()), StaleIfError), nil
		}
		c.land(req, f, false)
		return c.answer(resp, Miss), err
	}
	d := Decide(req, resp.Status, resp.Header)
	if !d.Shared {
		c.mu.Lock()
		if c.byEndpoint[req.Endpoint] > 0 { // else no query for it to find
			if q := c.queries[primaryKey(req)]; q != nil {
				q.coalesce = false // no longer known cacheable: no more coalescing
			}
		}
		c.mu.Unlock()
		c.land(req, f, false)
		return c.answer(resp, Bypass), nil
	}
	c.answer(resp, Miss)
	resp.Body = &teeBody{ReadCloser: resp.Body, limit: c.maxBytes / 8, done: func(body []byte, complete bool) {
		if complete {
			c.store(req, primaryKey(req), resp, body, d)
		}
		c.land(req, f, complete)
	}}
	return resp, nil
}

// land ends f, if not nil: the flight of req's leader, which stored its
// answer or not.
func (c *Cache) land(req *fetch.Request, f *flight, stored bool) {
	if f == nil {
		return
	}
	c.mu.Lock()
	if q := c.queries[primaryKey(req)]; q != nil && q.flight == f {
		q.flight = nil
		c.dropIfUnused(q)
	}
	c.mu.Unlock()
	f.stored = stored
	close(f.done)
}

// revalidate refreshes a stale entry in the background (once at a time).
func (c *Cache) revalidate(req *fetch.Request, old *cacheEntry) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.next.Fetch(ctx, req)
	defer func() {
		c.mu.Lock()
		old.refreshing = false
		c.mu.Unlock()
	}()
	if err != nil {
		return
	}
	defer resp.Body.Close()
	d := Decide(req, resp.Status, resp.Header)
	if !d.Shared {
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes/8+1))
	if err != nil || int64(len(body)) > c.maxBytes/8 {
		return
	}
	c.store(req, primaryKey(req), resp, body, d)
}

func (c *Cache) store(req *fetch.Request, primary string, resp *fetch.Response, body []byte, d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queries[primary]
	if q == nil {
		q = &query{key: primary, endpoint: req.Endpoint}
		c.queries[primary] = q
		c.byEndpoint[q.endpoint]++
		q.vary = d.Vary
		c.size += q.size()
	} else if !slices.Equal(q.vary, d.Vary) {
		c.size -= q.size()
		q.vary = d.Vary
		c.size += q.size()
	}
	q.coalesce = true
	key := fullKey(primary, d.Vary, req)
	if len(d.Vary) == 0 {
		key = q.key // one copy of the primary key for the query and its entry
	}
	header := resp.Header.Clone()
	e := &cacheEntry{
		key: key, q: q, status: resp.Status, header: header, body: body,
		stored: c.now(), d: d, bytes: entrySize(key, header, body),
	}
	q.entries++ // before the old entry goes, so that q stays
	if old, ok := c.entries[e.key]; ok {
		c.remove(old)
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.size += e.bytes
	for c.size > c.maxBytes && c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
}

// remove drops an entry, and its query once nothing else needs it.
func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	c.size -= e.bytes
	e.q.entries--
	c.dropIfUnused(e.q)
}

// dropIfUnused forgets a query with no entry and no leader in flight.
func (c *Cache) dropIfUnused(q *query) {
	if q.entries == 0 && q.flight == nil && c.queries[q.key] == q {
		delete(c.queries, q.key)
		if c.byEndpoint[q.endpoint]--; c.byEndpoint[q.endpoint] == 0 {
			delete(c.byEndpoint, q.endpoint)
		}
		c.size -= q.size()
	}
}

// teeBody copies a body as it is read, up to limit, and reports it once.
type teeBody struct {
	io.ReadCloser
	buf      bytes.Buffer
	limit    int64
	over     bool
	reported bool
	done     func(body []byte, complete bool)
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 && !t.over {
		if int64(t.buf.Len()+n) > t.limit {
			t.over = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(p[:n])
		}
	}
	if err == io.EOF {
		t.report(!t.over)
	} else if err != nil {
		t.report(false)
	}
	return n, err
}

func (t *teeBody) Close() error {
	t.report(false) // a body closed before EOF is not stored
	return t.ReadCloser.Close()
}

func (t *teeBody) report(complete bool) {
	if t.reported {
		return
	}
	t.reported = true
	t.done(t.buf.Bytes(), complete)
}
