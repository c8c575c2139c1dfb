package cache

import (
	"bytes"
	"container/list"
	"context"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// Cache is a shared HTTP cache for fragments in front of any Transport. It
// honours the fragment's Cache-Control (max-age, s-maxage,
// stale-while-revalidate, stale-if-error, no-store, private, no-cache) and
// Vary; it coalesces concurrent identical misses into one upstream call;
// and it holds at most MaxBytes of bodies, least recently used first out.
//
// The first response streams through to its page while it is copied into
// the cache, so a miss costs no latency.
type Cache struct {
	next     fetch.Transport
	maxBytes int64
	observe  func(result string)
	now      func() time.Time

	mu       sync.Mutex
	lru      *list.List               // of *cacheEntry, most recent first
	entries  map[string]*list.Element // by full key
	vary     map[string][]string      // primary key -> the request headers its responses vary on
	inflight map[string]*flight       // primary key -> the request in flight
	size     int64
	wg       sync.WaitGroup // background revalidations
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

// flight is a leader's upstream call that identical requests wait for.
type flight struct {
	done   chan struct{}
	stored bool // set before done is closed
}

// maxKeys bounds the map of what each fragment URL varies on.
const maxKeys = 1 << 16

type cacheEntry struct {
	key, primary string
	status       int
	header       http.Header
	body         []byte
	stored       time.Time
	ttl          time.Duration // freshness lifetime
	swr, sie     time.Duration
	refreshing   bool
}

func (e *cacheEntry) size() int64 { return int64(len(e.body)) + int64(len(e.key)) + 512 }

// NewCache returns a cache of at most maxBytes in front of next. observe,
// if not nil, is told each Fetch's CacheX result.
func New(next fetch.Transport, maxBytes int64, observe func(result string)) *Cache {
	return &Cache{
		next: next, maxBytes: maxBytes, observe: observe, now: time.Now,
		lru: list.New(), entries: map[string]*list.Element{}, vary: map[string][]string{}, inflight: map[string]*flight{},
	}
}

// Wait waits for background revalidations to end (for tests and shutdown).
func (c *Cache) Wait() { c.wg.Wait() }

func primaryKey(req *fetch.Request) string {
	return req.Loader + "\x00" + req.Endpoint + "\x00" + req.RawQuery
}

func fullKey(primary string, names []string, h http.Header) string {
	if len(names) == 0 {
		return primary
	}
	var b strings.Builder
	b.WriteString(primary)
	for _, n := range names {
		b.WriteString("\x00")
		b.WriteString(strings.Join(h.Values(n), ","))
	}
	return b.String()
}

func (c *Cache) result(r string) {
	if c.observe != nil {
		c.observe(r)
	}
}

// lookup returns the entry for req, if any. c.mu is held.
func (c *Cache) lookup(req *fetch.Request) *cacheEntry {
	primary := primaryKey(req)
	el, ok := c.entries[fullKey(primary, c.vary[primary], req.Header)]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

func (e *cacheEntry) response() *fetch.Response {
	return &fetch.Response{Status: e.status, Header: e.header, Body: io.NopCloser(bytes.NewReader(e.body))}
}

// Fresh reports whether a fresh response for req is cached, and for how
// much longer: a page whose fragments are all fresh in the cache can be
// cached downstream that long.
func (c *Cache) Fresh(req *fetch.Request) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.lookup(req)
	if e == nil {
		return 0, false
	}
	left := e.ttl - c.now().Sub(e.stored)
	return left, left > 0
}

// Fetch implements Transport.
func (c *Cache) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	primary := primaryKey(req)
	coalesced := false
	for {
		c.mu.Lock()
		e := c.lookup(req)
		if e != nil {
			age := c.now().Sub(e.stored)
			switch {
			case age < e.ttl:
				c.mu.Unlock()
				if coalesced {
					c.result(Coalesced)
				} else {
					c.result(Hit)
				}
				return e.response(), nil
			case age < e.ttl+e.swr:
				if !e.refreshing {
					e.refreshing = true
					c.wg.Add(1)
					go c.revalidate(req, e)
				}
				c.mu.Unlock()
				c.result(Stale)
				return e.response(), nil
			}
		}
		f, busy := c.inflight[primary]
		if !busy {
			f = &flight{done: make(chan struct{})}
			// Identical requests wait for this one only when the fragment
			// is known to be cacheable (its last answer was stored): for any
			// other, waiting could only add the leader's latency.
			if _, known := c.vary[primary]; known {
				c.inflight[primary] = f
			}
			c.mu.Unlock()
			return c.lead(ctx, req, primary, e, f)
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
			c.result(Miss)
			return c.next.Fetch(ctx, req)
		}
		coalesced = true // look again: the entry is there now
	}
}

// lead makes the upstream call for a miss, streams the body to the caller
// while copying it, and stores it if it may.
func (c *Cache) lead(ctx context.Context, req *fetch.Request, primary string, stale *cacheEntry, f *flight) (*fetch.Response, error) {
	finish := func() {
		c.mu.Lock()
		if c.inflight[primary] == f {
			delete(c.inflight, primary)
		}
		c.mu.Unlock()
		close(f.done)
	}
	resp, err := c.next.Fetch(ctx, req)
	if err != nil || resp.Status >= 500 {
		if stale != nil && c.now().Sub(stale.stored) < stale.ttl+stale.sie && ctx.Err() == nil {
			if resp != nil {
				resp.Body.Close()
			}
			finish()
			c.result(StaleIfError)
			return stale.response(), nil
		}
		finish()
		c.result(Miss)
		return resp, err
	}
	policy, ok := cacheable(resp)
	if !ok {
		c.mu.Lock()
		delete(c.vary, primary) // no longer known cacheable: no more coalescing
		c.mu.Unlock()
		finish()
		c.result(Bypass)
		return resp, nil
	}
	c.result(Miss)
	resp.Body = &teeBody{ReadCloser: resp.Body, limit: c.maxBytes / 8, done: func(body []byte, complete bool) {
		if complete {
			c.store(req, primary, resp, body, policy)
			f.stored = true
		}
		finish()
	}}
	return resp, nil
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
	policy, ok := cacheable(resp)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes/8+1))
	if err != nil || int64(len(body)) > c.maxBytes/8 {
		return
	}
	c.store(req, primaryKey(req), resp, body, policy)
}

type cachePolicy struct {
	ttl, swr, sie time.Duration
	vary          []string
}

// cacheable reads a response's caching rules for a shared cache.
func cacheable(resp *fetch.Response) (cachePolicy, bool) {
	var p cachePolicy
	if resp.Status != http.StatusOK {
		return p, false
	}
	cc := ParseCacheControl(resp.Header)
	if cc.NoStore || cc.Private || cc.NoCache {
		return p, false
	}
	switch {
	case cc.SMaxAge >= 0:
		p.ttl = cc.SMaxAge
	case cc.MaxAge >= 0:
		p.ttl = cc.MaxAge
	default:
		return p, false
	}
	p.swr, p.sie = max(cc.StaleWhileRevalidate, 0), max(cc.StaleIfError, 0)
	if p.ttl+p.swr+p.sie <= 0 {
		return p, false
	}
	for _, v := range resp.Header.Values("Vary") {
		for _, n := range strings.Split(v, ",") {
			n = http.CanonicalHeaderKey(strings.TrimSpace(n))
			if n == "*" {
				return p, false
			}
			if n != "" && n != "Accept-Encoding" { // the transport decodes
				p.vary = append(p.vary, n)
			}
		}
	}
	sort.Strings(p.vary)
	return p, true
}

func (c *Cache) store(req *fetch.Request, primary string, resp *fetch.Response, body []byte, p cachePolicy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.vary) >= maxKeys {
		clear(c.vary) // lookups miss until the next store: slower, never wrong
	}
	c.vary[primary] = p.vary
	e := &cacheEntry{
		key: fullKey(primary, p.vary, req.Header), primary: primary,
		status: resp.Status, header: resp.Header.Clone(), body: body,
		stored: c.now(), ttl: p.ttl, swr: p.swr, sie: p.sie,
	}
	if old, ok := c.entries[e.key]; ok {
		c.remove(old)
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.size += e.size()
	for c.size > c.maxBytes && c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
}

func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	c.size -= e.size()
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

// CacheControl is a parsed Cache-Control header; -1 means absent.
type CacheControl struct {
	MaxAge, SMaxAge, StaleWhileRevalidate, StaleIfError time.Duration
	NoStore, NoCache, Private, Public                   bool
}

// ParseCacheControl reads the Cache-Control directives of h.
func ParseCacheControl(h http.Header) CacheControl {
	cc := CacheControl{MaxAge: -1, SMaxAge: -1, StaleWhileRevalidate: -1, StaleIfError: -1}
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			secs := func() time.Duration {
				n, err := strconv.Atoi(strings.Trim(arg, `"`))
				if err != nil || n < 0 {
					return 0
				}
				return time.Duration(n) * time.Second
			}
			switch strings.ToLower(name) {
			case "max-age":
				cc.MaxAge = secs()
			case "s-maxage":
				cc.SMaxAge = secs()
			case "stale-while-revalidate":
				cc.StaleWhileRevalidate = secs()
			case "stale-if-error":
				cc.StaleIfError = secs()
			case "no-store":
				cc.NoStore = true
			case "no-cache":
				cc.NoCache = true
			case "private":
				cc.Private = true
			case "public":
				cc.Public = true
			}
		}
	}
	return cc
}
