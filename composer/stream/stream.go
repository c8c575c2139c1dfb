// Package stream composes a page from a compiled template and its fragments
// and streams it to the browser: the stream writer.
//
// Data flow for one page:
//
//	template slots --(one goroutine each, all at once)--> fetch.Transport
//	      fragment bodies --> bounded chunk queue per slot
//	writer: raw bytes, flush; slot in document order: copy its chunks as they arrive, flush; ...
//	        async slots: placeholder in place, content before </body> in completion order
//
// Nothing is buffered whole: the fragment whose turn it is goes to the
// browser chunk by chunk; later fragments wait in bounded queues (their
// producers block, which pushes back on the fragment server through TCP).
// Every fragment passes through an HTML guard (package htmlguard) on its way, so
// that its markup cannot break the page after it. The response status waits
// for the required fragments' headers only; package cache and
// cacheControl here decide what a CDN may keep.
package stream

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/htmlguard"
	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// Resolver finds a fragment's registration.
type Resolver interface {
	Lookup(id string) (registry.Entry, bool)
}

// Defaults for Composer's zero fields.
const (
	DefaultTimeout          = 2 * time.Second
	DefaultChunkSize        = 8 << 10
	DefaultQueueChunks      = 1
	DefaultMaxFragmentBytes = 4 << 20
)

// Observer is told how each fragment request went: outcome is "ok",
// "error", "timeout", "status" (not 2xx), "unregistered", "cut" (failed
// mid-body), "canceled" (the browser went away), "breaker_open" or
// "bulkhead_full" (rejected at once by package breaker, not asked).
type Observer interface {
	Fragment(id, version, outcome string, d time.Duration)
}

// Peeker is a transport that can hand out a stored answer at once, without
// calling the fragment (the fragment cache). Before its header goes out, a
// page asks it for the fragments it does not wait for, and uses what it
// gets: the page's Cache-Control is folded from the answers it used.
type Peeker interface {
	Peek(req *fetch.Request) *fetch.Response
}

// Composer streams pages. Its fields are read-only once it serves.
type Composer struct {
	Fetch    fetch.Transport
	Registry Resolver
	Log      *slog.Logger
	// Observer, if set, is told about every fragment request.
	Observer Observer
	// CDNKey lists the request headers the CDN in front keys its cache on,
	// besides the path and the query (the CDK stack's cache policy keys on
	// none). A page that used an answer varying on one of them names it in
	// its Vary; one varying on any other request header makes the page
	// private. See docs/caching.md.
	CDNKey []string
	// Tracer, if set, makes a client span for every fragment request, a
	// child of the page's span, and sends its traceparent to the fragment.
	Tracer trace.Tracer
	// Timeout is a fragment's deadline (clock.go: the composer's waiting
	// on it, not wall-clock time) when neither its template
	// element nor its registry entry sets one.
	Timeout time.Duration
	// ChunkSize is the size of one read from a fragment body.
	ChunkSize int
	// QueueChunks bounds how many chunks a fragment that is not yet being
	// written may read ahead.
	QueueChunks int
	// MaxFragmentBytes cuts a fragment body that grows beyond it.
	MaxFragmentBytes int64
	// FlushDelay coalesces flushes after the page's first one: when the
	// writer has to wait, what it wrote goes out once it has waited this
	// long (or at once when 0). The first flush, the page head, is never
	// delayed. A few milliseconds save a write per fragment boundary under
	// load, and no eye can see them.
	FlushDelay time.Duration
	// Breakers, if set, tells the debug view each fragment's breaker
	// state (debug.go).
	Breakers BreakerStates
	// PublicOrigin is the site's origin as visitors reach it
	// ("https://shop.example"): Podium's mount origin. Never the request's
	// Host, which behind a CDN is the load balancer's.
	PublicOrigin string

	pool sync.Pool // *[]byte of ChunkSize
}

// Page is one page request.
type Page struct {
	Template *template.Template
	// ErrorPage returns the body to show for an error status, or nil for the
	// built-in page.
	ErrorPage func(status int) []byte
	// Params are the route parameters.
	Params map[string]string
	// RequestID goes to fragments as X-Request-Id and onto error pages.
	RequestID string
}

// errNotRegistered is a slot whose id has no registry entry.
var errNotRegistered = errors.New("fragment id is not registered")

// errTooLarge is a fragment body longer than MaxFragmentBytes.
var errTooLarge = errors.New("fragment body exceeds the size limit")

// slot is the state of one fragment while its page streams.
type slot struct {
	frag    *template.Fragment
	entry   registry.Entry
	version string        // the canary version chosen, "" for an entry without versions
	ready   chan struct{} // closed once status/header/err are set

	// Set before ready is closed.
	status int
	header http.Header
	age    time.Duration // the answer's age, when a cache handed it out
	err    error

	req     *fetch.Request
	chunks  chan []byte // non-async body, closed when the body ends
	body    []byte      // async body, whole
	bodyErr error       // set before chunks is closed (or before async completion)

	// peeked is an optional fragment's answer handed out by the cache
	// before the page's header (set before its fetch starts).
	peeked *fetch.Response

	// Only the fetching goroutine reads and writes these.
	readyClosed, chunksClosed bool

	started time.Time // when its fetch started; set before ready is closed

	dbg *slotDebug // the debug view's figures; nil unless it is on
}

// scripts is what the guard does with the fragment's scripts: all
// inert, and those its answer's own Content-Security-Policy vouches for
// (or all, for an entry that trusts its scripts) made live by the
// activator (package inert). Only the answer's header is read: nothing
// is stored or fetched for it.
func (s *slot) scripts() *htmlguard.Scripts {
	return &htmlguard.Scripts{Policy: inert.ParsePolicy(s.header.Values("Content-Security-Policy")), Trust: s.entry.TrustScripts}
}

// markReady closes ready once.
func (s *slot) markReady() {
	if !s.readyClosed {
		s.readyClosed = true
		close(s.ready)
	}
}

// endChunks closes chunks once, if the slot streams.
func (s *slot) endChunks() {
	if s.chunks != nil && !s.chunksClosed {
		s.chunksClosed = true
		close(s.chunks)
	}
}

// errPanic is a fragment whose fetch panicked: a bug in a transport, kept
// to that fragment instead of taking every page in flight down with it.
var errPanic = errors.New("fragment fetch panicked")

// recoverFetch turns a panic in a fetch into that fragment's failure. It
// must be deferred by the fetching goroutine.
func (c *Composer) recoverFetch(s *slot) {
	v := recover()
	if v == nil {
		return
	}
	if c.Log != nil {
		c.Log.Error("fragment fetch panicked", "fragment", s.frag.ID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
	if !s.readyClosed {
		s.err = errPanic
		s.markReady()
	} else {
		s.bodyErr = errPanic
	}
	s.endChunks()
}

func (c *Composer) chunkSize() int {
	if c.ChunkSize > 0 {
		return c.ChunkSize
	}
	return DefaultChunkSize
}

func (c *Composer) getChunk() *[]byte {
	if p, ok := c.pool.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, c.chunkSize())
	return &b
}

// putChunk returns a chunk handed out by getChunk (re-sliced to any length).
func (c *Composer) putChunk(b []byte) {
	if cap(b) != c.chunkSize() {
		return
	}
	b = b[:cap(b)]
	c.pool.Put(&b)
}

// Serve composes p and writes it to w. It returns when the page is written
// or the browser has gone; all fragment requests have ended by then.
//
// When a required fragment fails after the page has started, Serve panics
// with http.ErrAbortHandler so that the server aborts the response and no
// CDN caches a truncated page.
func (c *Composer) Serve(w http.ResponseWriter, r *http.Request, p *Page) {
	ctx, cancel := context.WithCancel(r.Context())
	var fetches sync.WaitGroup
	// On every way out, panics included: stop the fragment requests, then
	// wait for them, so nothing outlives the page.
	defer func() {
		cancel()
		fetches.Wait()
	}()

	tpl := p.Template
	slots := make([]slot, len(tpl.Slots))
	rawQuery := pageQuery(r.URL, p.Params)
	var async chan int
	if tpl.Async > 0 {
		async = make(chan int, tpl.Async)
	}
	var canary canaryState
	mode := newPageMode(r)
	for i := range slots {
		s := &slots[i]
		s.frag = &tpl.Slots[i]
		s.ready = make(chan struct{})
		entry, ok := c.Registry.Lookup(s.frag.ID)
		if !ok {
			s.err = errNotRegistered
			if c.Observer != nil {
				c.Observer.Fragment(s.frag.ID, "", "unregistered", 0)
			}
			close(s.ready)
			if s.frag.Async {
				async <- i
			}
			continue
		}
		s.entry = entry
		endpoint, loader := entry.Endpoint, string(s.frag.Loader)
		// An override keeps the entry's policies (headers, cookies,
		// timeout) but not its endpoint nor its canary versions.
		preview, overridden := mode.override(s.frag.ID)
		switch {
		case overridden:
			s.version, endpoint, loader = OverrideVersion, preview, ""
		case len(entry.Versions) > 0:
			s.version, endpoint = canary.choose(r, s.frag.ID, entry)
		}
		if mode.debug {
			s.dbg = &slotDebug{}
		}
		if !s.frag.Async {
			s.chunks = make(chan []byte, c.queueChunks())
		}
		req := &fetch.Request{
			Endpoint:   endpoint,
			Loader:     loader,
			Path:       r.URL.Path,
			RawQuery:   fragmentQuery(endpoint, rawQuery),
			PathParams: p.Params,
			Header:     c.fragmentHeaders(r, p, i, entry),
			// The circuit breaker and bulkhead key (package breaker, behind
			// the cache in c.Fetch).
			Fragment: s.frag.ID,
			Version:  s.version,
			Override: overridden,
		}
		s.req = req
		if p, ok := c.Fetch.(Peeker); ok && !s.frag.Required {
			s.peeked = p.Peek(req)
		}
		fetches.Add(1)
		fetchWorkers.Go(func() {
			defer fetches.Done()
			c.fetch(ctx, s, req)
			if s.frag.Async {
				async <- i
			}
		})
	}

	mode.writeHeaders(w.Header())
	pw := &pageWriter{w: w, rc: http.NewResponseController(w), c: c, page: p, slots: slots, requestID: p.RequestID, canary: &canary, asyncKey: newAsyncKey(), pageURL: r.URL, mode: mode}
	if !pw.start(ctx) {
		return
	}
	pw.writeParts(ctx, async)
}

// fragmentHeaders are the headers slot i's request carries: what
// fetch.Headers lets through, and the composer's own (fetch.SlotHeader).
func (c *Composer) fragmentHeaders(r *http.Request, p *Page, i int, entry registry.Entry) http.Header {
	h := fetch.Headers(r.Header, p.RequestID, entry.ForwardHeaders)
	h[fetch.SlotHeader] = []string{"s" + strconv.Itoa(i)}
	if pod := entry.Podium; pod != nil {
		c.podiumHeaders(h, r, p, pod)
	}
	return h
}

// podiumHeaders sets Podium's context for an entry that asks for it, from
// what the CDN sees only: the entry's values, the request headers the CDN
// keys on, the public origin setting and (when the entry asks) the path.
func (c *Composer) podiumHeaders(h http.Header, r *http.Request, p *Page, pod *registry.Podium) {
	locale := pod.Locale
	if locale == "" && c.keyed("Accept-Language") {
		first, _, _ := strings.Cut(r.Header.Get("Accept-Language"), ",")
		first, _, _ = strings.Cut(first, ";")
		if first = strings.TrimSpace(first); registry.ValidLocale(first) {
			locale = first
		}
	}
	if locale == "" {
		locale = "en-US"
	}
	device := pod.DeviceType
	if device == "" {
		device = "desktop"
		for _, v := range []struct{ header, device string }{
			{"Cloudfront-Is-Mobile-Viewer", "mobile"}, {"Cloudfront-Is-Tablet-Viewer", "tablet"},
		} {
			if c.keyed(v.header) && r.Header.Get(v.header) == "true" {
				device = v.device
				break
			}
		}
	}
	public := pod.PublicPathname
	if public == "" {
		public = "/"
	}
	h[fetch.PodiumLocale] = []string{locale}
	h[fetch.PodiumDeviceType] = []string{device}
	h[fetch.PodiumPublicPathname] = []string{public}
	if c.PublicOrigin != "" {
		h[fetch.PodiumMountOrigin] = []string{c.PublicOrigin}
	}
	if p.Template != nil && p.Template.Name != "" && !strings.ContainsFunc(p.Template.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		h[fetch.PodiumRequestedBy] = []string{p.Template.Name}
	}
	if pod.MountPathname {
		// Escaped: a decoded path may hold any byte, a header may not.
		h[fetch.PodiumMountPathname] = []string{r.URL.EscapedPath()}
	}
}

func (c *Composer) queueChunks() int {
	if c.QueueChunks > 0 {
		return c.QueueChunks
	}
	return DefaultQueueChunks
}

// timeout picks the fragment's deadline: template, then registry, then
// server default.
func (c *Composer) timeout(s *slot) time.Duration {
	switch {
	case s.frag.Timeout > 0:
		return s.frag.Timeout
	case s.entry.Timeout > 0:
		return s.entry.Timeout
	case c.Timeout > 0:
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Composer) maxBytes() int64 {
	if c.MaxFragmentBytes > 0 {
		return c.MaxFragmentBytes
	}
	return DefaultMaxFragmentBytes
}

// fetch runs one fragment request and feeds its body to the slot.
func (c *Composer) fetch(ctx context.Context, s *slot, req *fetch.Request) {
	if c.Observer != nil {
		start := time.Now()
		defer func() { c.Observer.Fragment(s.frag.ID, s.version, s.outcome(), time.Since(start)) }()
	}
	s.started = time.Now()
	// The deadline counts only the composer's waiting on the fragment
	// (clock.go): pump pauses it while the slot's queue is full.
	ctx, clk := startClock(ctx, c.timeout(s))
	defer clk.stop()
	if c.Tracer != nil {
		var span trace.Span
		ctx, span = c.Tracer.Start(ctx, "fragment "+s.frag.ID, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("fragment.id", s.frag.ID), attribute.String("fragment.version", s.version),
				attribute.Bool("fragment.required", s.frag.Required), attribute.String("fragment.transport", fetch.Kind(req.Endpoint, req.Loader))))
		defer func() {
			outcome := s.outcome()
			span.SetAttributes(attribute.String("fragment.outcome", outcome), attribute.Int("http.response.status_code", s.status))
			if outcome != "ok" {
				span.SetStatus(codes.Error, outcome)
			}
			span.End()
		}()
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	defer c.recoverFetch(s)
	resp, err := s.peeked, error(nil)
	if resp == nil {
		resp, err = c.Fetch.Fetch(ctx, req)
	}
	s.answered(resp)
	if err != nil {
		s.err = deadlineErr(ctx, err)
		s.markReady()
		s.endChunks()
		return
	}
	defer resp.Body.Close()
	s.status, s.header, s.age = resp.Status, resp.Header, resp.Age
	s.markReady()
	if s.status < 200 || s.status > 299 {
		s.endChunks()
		return
	}
	limit := c.maxBytes()
	if s.chunks == nil {
		var buf bytes.Buffer
		_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
		s.body, s.bodyErr = buf.Bytes(), deadlineErr(ctx, err)
		if err == nil && int64(buf.Len()) > limit {
			s.body, s.bodyErr = nil, errTooLarge
		}
		s.bodyEnded()
		return
	}
	s.bodyErr = deadlineErr(ctx, c.pump(ctx, clk, s, resp.Body, limit))
	s.bodyEnded()
	s.endChunks()
}

// pump copies body to the slot's chunks until its end, the size limit or
// the page's end, and returns why it stopped early (nil at the end). While
// the queue is full, the fragment is not waited on: clk is paused.
func (c *Composer) pump(ctx context.Context, clk *clock, s *slot, body io.Reader, limit int64) error {
	var total int64
	for {
		bp := c.getChunk()
		n, err := body.Read(*bp)
		if n > 0 {
			total += int64(n)
			if total > limit {
				c.putChunk(*bp)
				return errTooLarge
			}
			select {
			case s.chunks <- (*bp)[:n]:
			default:
				clk.pause()
				select {
				case s.chunks <- (*bp)[:n]:
				case <-ctx.Done():
					c.putChunk(*bp)
					return context.Cause(ctx)
				}
				clk.resume()
			}
		} else {
			c.putChunk(*bp)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// pageQuery is the query string every fragment of the page receives: the
// page's own query with the route parameters set on it, re-encoded. A
// page parameter whose name reads as a route parameter's or as
// DebugParam (paramName) is dropped. The query is parsed as Go does
// except that a ";" is part of a value, and written out again, so a ";"
// is always %3B: a fragment whose framework splits pairs on ";" finds no
// pair the composer did not see. A pair that does not decode is dropped.
func pageQuery(u *url.URL, params map[string]string) string {
	if u.RawQuery == "" && len(params) == 0 {
		return ""
	}
	route := map[string]bool{}
	for k := range params {
		route[paramName(k)] = true
	}
	q := url.Values{}
	for pair := range strings.SplitSeq(u.RawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || route[paramName(k)] || paramName(k) == DebugParam {
			continue
		}
		q[k] = append(q[k], v)
	}
	for k, v := range params {
		q.Set(k, v)
	}
	return q.Encode()
}

// fragmentQuery is the query a fragment receives after its endpoint's
// own: pageQuery's, less every name that reads as one the endpoint's query
// already sets (paramName). The precedence is the entry's own parameters,
// then the route parameters, then the page's query; a lower one of the
// same name is dropped, never appended. (A function endpoint has no query:
// its event carries pageQuery as it is.)
func fragmentQuery(endpoint, pageQuery string) string {
	_, own, ok := strings.Cut(endpoint, "?")
	if !ok || own == "" || pageQuery == "" {
		return pageQuery
	}
	own, _, _ = strings.Cut(own, "#")
	fixed := map[string]bool{}
	for pair := range strings.FieldsFuncSeq(own, func(r rune) bool { return r == '&' || r == ';' }) {
		fixed[paramName(queryName(pair))] = true
	}
	var b strings.Builder
	for pair := range strings.SplitSeq(pageQuery, "&") {
		if pair == "" || fixed[paramName(queryName(pair))] {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// queryName is the decoded name of one name=value pair of a query.
func queryName(pair string) string {
	name, _, _ := strings.Cut(pair, "=")
	if n, err := url.QueryUnescape(name); err == nil {
		return n
	}
	return name
}

// paramName is a parameter's name as the laxest framework may read it:
// lower case, without the spaces and control characters (NUL included)
// around it, and without a trailing [...] (PHP and Rails read tenant[] and
// tenant[a] as tenant).
func paramName(name string) string {
	trim := func(s string) string {
		return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	}
	name = trim(name)
	if i := strings.IndexByte(name, '['); i >= 0 && strings.HasSuffix(name, "]") {
		name = trim(name[:i])
	}
	return strings.ToLower(name)
}

// headFailure says why a slot gave no body: an error before the response,
// or a status other than 2xx. Only valid once ready is closed.
func (s *slot) headFailure() error {
	switch {
	case s.err != nil:
		return s.err
	case s.status < 200 || s.status > 299:
		return fmt.Errorf("status %d", s.status)
	}
	return nil
}

// outcome classifies how the request went, once the producer is done.
func (s *slot) outcome() string {
	err := s.err
	if err == nil && (s.status < 200 || s.status > 299) {
		return "status"
	}
	if err == nil {
		err = s.bodyErr
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return "cut"
		}
	}
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errNotRegistered):
		return "unregistered"
	case errors.Is(err, breaker.ErrOpen):
		return "breaker_open"
	case errors.Is(err, breaker.ErrFull):
		return "bulkhead_full"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// pageStatus maps a failed required fragment to the page's status.
func pageStatus(s *slot) int {
	var rejected *breaker.RejectedError
	switch {
	case errors.Is(s.err, errNotRegistered), errors.As(s.err, &rejected):
		return http.StatusServiceUnavailable
	case errors.Is(s.err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case s.err != nil:
		return http.StatusBadGateway
	case s.status == http.StatusNotFound || s.status == http.StatusGone:
		return s.status
	}
	return http.StatusBadGateway
}

// isRedirect says whether a required fragment redirects the page.
func isRedirect(s *slot) bool {
	switch s.status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return s.header.Get("Location") != ""
	}
	return false
}

// pageWriter writes one page.
type pageWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	c         *Composer
	page      *Page
	slots     []slot
	requestID string
	dirty     bool // written since the last flush
	flushed   bool // the first flush (the page head) is done
	timer     *time.Timer
	broken    bool // the browser has gone
	canary    *canaryState
	asyncKey  string   // the random part of the async placeholders' ids
	pageURL   *url.URL // the page's request URL: relative redirects resolve against it
	mode      pageMode

	overlayWritten bool // the debug view's script is in the page

	assets map[string]bool // the asset URLs written, by kind (asset)
}

// start writes the response header once the required fragments have given
// their status. It reports whether the page body should follow.
func (pw *pageWriter) start(ctx context.Context) bool {
	began := time.Now()
	for i := range pw.slots {
		s := &pw.slots[i]
		if !s.frag.Required {
			continue
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return false
		}
		if s.err == nil && s.status >= 200 && s.status <= 299 {
			continue
		}
		pw.logFailure(s, s.headFailure())
		if s.err == nil && isRedirect(s) {
			if loc, ok := redirectLocation(s.header.Get("Location"), s.entry.Endpoint, pw.pageURL); ok {
				pw.redirect(s, loc)
				return false
			}
			pw.logFailure(s, errBadLocation)
		}
		var rejected *breaker.RejectedError
		if errors.As(s.err, &rejected) {
			// Not asked (its breaker is open, or its bulkhead full): the
			// browser may try again once the breaker lets a probe through.
			pw.w.Header().Set("Retry-After", strconv.Itoa(int(rejected.RetryAfter/time.Second)))
		}
		pw.errorPage(pageStatus(s))
		return false
	}
	h := pw.w.Header()
	// What is known before the first byte: how long the required fragments
	// held the status line.
	h.Set("Server-Timing", fmt.Sprintf("required;dur=%.1f;desc=\"waiting for required fragments\"", float64(time.Since(began).Microseconds())/1000))
	pw.canary.writeHeaders(h)
	// Cookies reach the page only from a required fragment whose entry
	// allows it: a team cannot set cookies from an optional widget.
	for i := range pw.slots {
		if s := &pw.slots[i]; s.frag.Required && s.entry.SetCookie {
			for _, c := range s.header.Values("Set-Cookie") {
				h.Add("Set-Cookie", c)
			}
		}
	}
	if pw.mode.personal() {
		h.Set("Cache-Control", personalCacheControl)
	}
	if h.Get("Cache-Control") == "" {
		cc, vary := pw.cacheControl(len(h["Set-Cookie"]) > 0)
		h.Set("Cache-Control", cc)
		if len(vary) > 0 {
			h.Add("Vary", strings.Join(vary, ", "))
		}
		if strings.HasPrefix(cc, "public") {
			// A shared cache keeps the header with the page (RFC 9111
			// §3.1) and would send this request's id, which the visitor
			// may have chosen, to everyone. The id is still logged and
			// sent to the fragments.
			h.Del("X-Request-Id")
		}
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	// The page streams: nginx and ingress-nginx, which buffer proxied
	// answers by default, pass this one on as it comes (docs/proxies.md).
	h.Set("X-Accel-Buffering", "no")
	if link := pw.preloadHeader(); link != "" {
		h.Set("Link", link)
	}
	pw.w.WriteHeader(http.StatusOK)
	return true
}

// cacheControl folds the caching rules of the answers the page used into
// the page's, from what is known when the header goes out: the required
// fragments' answers, and the answers the cache handed out at once for the
// others (package cache's Decide judges each, its Age header and the time
// it spent in our cache counted). A page is
// as cacheable as its least cacheable part: a part not known yet, or not
// reusable, makes it no-store; a personal part (private, Set-Cookie,
// credentials, Vary: *, Vary on a header the CDN does not key on), or a
// Set-Cookie on the page, makes it private; its s-maxage is the shortest
// freshness left of any part. vary lists the CDN-keyed headers the parts
// vary on, for the page's Vary.
func (pw *pageWriter) cacheControl(setsCookie bool) (cc string, vary []string) {
	ttl := time.Duration(-1)
	private := setsCookie
	for i := range pw.slots {
		s := &pw.slots[i]
		if s.req == nil {
			// Not registered: its fallback is part of the template. (Read
			// req, set before the fetches start, not err: an optional
			// fragment may still be writing err.)
			continue
		}
		var status int
		var header http.Header
		var age time.Duration
		switch {
		case s.frag.Required: // ready: start waited for it
			status, header, age = s.status, s.header, s.age
		case s.peeked != nil: // set before its fetch started
			status, header, age = s.peeked.Status, s.peeked.Header, s.peeked.Age
		default:
			return "no-store", nil // not known yet (and its fetch may be writing)
		}
		d := cache.Decide(s.req, status, header)
		switch {
		case d.Private:
			private = true
			continue
		case !d.Shared:
			return "no-store", nil
		}
		for _, name := range d.Vary {
			switch {
			case !pw.c.keyed(name):
				private = true
			case !slices.Contains(vary, name):
				vary = append(vary, name)
			}
		}
		// Its current age: the Age header it arrived with, plus the time
		// our cache held it (RFC 9111 §4.2.3).
		if left := d.Lifetime - d.Age - age; ttl < 0 || left < ttl {
			ttl = left
		}
	}
	switch {
	case private:
		return "private, no-cache", nil
	case ttl < time.Second:
		return "no-store", nil
	}
	return fmt.Sprintf("public, max-age=0, s-maxage=%d", int(ttl/time.Second)), vary
}

// keyed reports whether the CDN keys its cache on the request header name.
func (c *Composer) keyed(name string) bool {
	for _, k := range c.CDNKey {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// errBadLocation is a required fragment's redirect that cannot be the
// page's: not http or https, or a path that a browser would read as
// another host.
var errBadLocation = errors.New("redirect location is not an http(s) URL or a path on this site")

// redirectLocation is the page's Location for a fragment's. A relative
// location ("login", "?a=1", "#top", "") is resolved against page, the
// page's request URL, as the browser would resolve a reference on the
// page: never against the endpoint, whose path and query are internal. An
// absolute (or scheme-relative, taking the endpoint's scheme) location must
// be http or https; on the endpoint's own host (sameHost) it becomes a path
// (never show the browser an internal hostname). The path must start with
// a single "/" ("//x" and "/\x" are other hosts to a browser), and a
// location with a backslash is refused (a browser reads "\\x" as "//x").
// ok is false for anything else.
func redirectLocation(loc, endpoint string, page *url.URL) (string, bool) {
	if strings.Contains(loc, "\\") {
		return "", false
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	e, err := url.Parse(endpoint)
	httpEndpoint := err == nil && (e.Scheme == "http" || e.Scheme == "https") && e.Host != ""
	switch {
	case u.Scheme == "" && u.Host == "" && u.Opaque == "":
		base := &url.URL{Path: "/"}
		if page != nil {
			base = &url.URL{Path: page.Path, RawPath: page.RawPath, RawQuery: page.RawQuery}
		}
		u = base.ResolveReference(u)
	case httpEndpoint:
		u = e.ResolveReference(u) // its scheme if it has none; dot segments resolved
		if sameHost(u, e) {
			u.Scheme, u.Host, u.User = "", "", nil
		}
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		if u.Host == "" || u.Opaque != "" {
			return "", false
		}
		return u.String(), true
	case u.Scheme != "" || u.Host != "" || u.Opaque != "":
		return "", false
	}
	if u.Path == "" {
		u.Path = "/"
	}
	// Checked decoded: "/%2F..." and "/%5C..." are refused too.
	if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path[1:], "/") || strings.HasPrefix(u.Path[1:], "\\") {
		return "", false
	}
	return u.String(), true
}

// sameHost reports whether u (absolute) names the host and port of e, the
// endpoint, compared as a browser would reach them: host names in lower
// case without a trailing dot, IP addresses in one spelling, ports as
// numbers ("019101" is 19101) with the scheme's default, and localhost,
// 127.0.0.1 and [::1] the same host when the endpoint is one of them.
func sameHost(u, e *url.URL) bool {
	h1, p1, ok1 := hostPort(u)
	h2, p2, ok2 := hostPort(e)
	return ok1 && ok2 && h1 == h2 && p1 == p2
}

func hostPort(u *url.URL) (string, int, bool) {
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
		if ip.IsLoopback() {
			h = "localhost"
		}
	}
	if h == "" {
		return "", 0, false
	}
	port := 0
	switch ps := u.Port(); {
	case ps != "":
		n, err := strconv.Atoi(ps)
		if err != nil || n < 0 || n > 65535 {
			return "", 0, false
		}
		port = n
	case u.Scheme == "http":
		port = 80
	case u.Scheme == "https":
		port = 443
	}
	return h, port, true
}

// redirect sends a required fragment's redirect as the page's, with the
// fragment's Set-Cookie if its entry allows it (a login step sets its
// session as it redirects). A redirect is never stored.
func (pw *pageWriter) redirect(s *slot, loc string) {
	h := pw.w.Header()
	h.Set("Location", loc)
	h.Set("Cache-Control", "no-store")
	if s.entry.SetCookie {
		for _, c := range s.header.Values("Set-Cookie") {
			h.Add("Set-Cookie", c)
		}
	}
	pw.w.WriteHeader(s.status)
}

// errorPage writes a whole error response. Its body names no endpoint.
func (pw *pageWriter) errorPage(status int) {
	var body []byte
	if pw.page.ErrorPage != nil {
		body = pw.page.ErrorPage(status)
	}
	if body == nil {
		text := http.StatusText(status)
		body = fmt.Appendf(nil, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d %s</title></head>\n<body><h1>%s</h1><p>This page could not be shown. Please try again in a moment.</p><p><small>Request id: %s</small></p></body></html>\n",
			status, text, text, html.EscapeString(pw.requestID))
	}
	h := pw.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	pw.w.WriteHeader(status)
	_, _ = pw.w.Write(body)
}

func (pw *pageWriter) write(b []byte) {
	if pw.broken || len(b) == 0 {
		return
	}
	if _, err := pw.w.Write(b); err != nil {
		pw.broken = true
		return
	}
	pw.dirty = true
}

func (pw *pageWriter) flush() {
	if pw.broken || !pw.dirty {
		return
	}
	pw.flushed = true
	if err := pw.rc.Flush(); err != nil {
		pw.broken = true
	}
	pw.dirty = false
}

// idle is called when the writer is about to block. It flushes at once the
// first time, and otherwise returns a channel that fires when the caller,
// still blocked, should flush (nil: nothing to flush).
func (pw *pageWriter) idle() <-chan time.Time {
	if pw.broken || !pw.dirty {
		return nil
	}
	if !pw.flushed || pw.c.FlushDelay <= 0 {
		pw.flushed = true
		pw.flush()
		return nil
	}
	if pw.timer == nil {
		pw.timer = time.NewTimer(pw.c.FlushDelay)
	} else {
		pw.timer.Reset(pw.c.FlushDelay)
	}
	return pw.timer.C
}

// waitFor receives from ch, flushing what was written while it waits. ok
// is false when ch is closed; alive is false when the page's context ended.
func waitFor[T any](pw *pageWriter, ctx context.Context, ch <-chan T) (v T, ok, alive bool) {
	select {
	case v, ok = <-ch:
		return v, ok, true
	default:
	}
	tick := pw.idle()
	for {
		select {
		case v, ok = <-ch:
			if pw.timer != nil {
				pw.timer.Stop()
			}
			return v, ok, true
		case <-tick:
			pw.flush()
			tick = nil
		case <-ctx.Done():
			return v, false, false
		}
	}
}

func (pw *pageWriter) writeParts(ctx context.Context, async <-chan int) {
	tpl := pw.page.Template
	for _, part := range tpl.Parts {
		if pw.broken {
			return
		}
		switch part.Kind {
		case template.Raw:
			pw.write(part.Raw)
		case template.HeadOutlet:
			pw.writeAssets()
			pw.writeOverlay()
		case template.Slot:
			s := &pw.slots[part.Slot]
			if s.frag.Async {
				pw.writePlaceholder(part.Slot, s)
				continue
			}
			pw.debugBegin(s)
			pw.writeSlot(ctx, s)
			if !pw.broken {
				pw.debugEnd(s)
			}
		case template.AsyncOutlet:
			for range tpl.Async {
				if pw.broken {
					return
				}
				i, _, alive := waitFor(pw, ctx, async)
				if !alive {
					return
				}
				pw.writeAsync(i, &pw.slots[i])
			}
		}
	}
	pw.writeOverlay() // a template without </head>: at its end
	// No flush here: the server writes what is left together with the end
	// of the response, one write instead of two.
}

// writeSlot copies one fragment to the browser as its chunks arrive.
func (pw *pageWriter) writeSlot(ctx context.Context, s *slot) {
	if _, _, alive := waitFor(pw, ctx, s.ready); !alive {
		pw.broken = true
		return
	}
	if err := s.headFailure(); err != nil {
		pw.logFailure(s, err)
		pw.write(s.frag.Fallback)
		return
	}
	pw.writeLinks(s.header)
	// The guard keeps this fragment's markup from breaking the page, and
	// its elements from taking or naming the page's ids.
	g := htmlguard.Guard{Reserved: pw.page.Template.IDs, Scripts: s.scripts()}
	written := 0
	for {
		chunk, ok, alive := waitFor(pw, ctx, s.chunks)
		if !alive {
			pw.broken = true
			return
		}
		if !ok {
			break
		}
		g.Write(chunk, pw.write)
		written += len(chunk)
		pw.c.putChunk(chunk)
		if pw.broken {
			// The browser is gone or stopped reading (a write deadline):
			// reading on would only hold the fragment longer.
			return
		}
	}
	g.Close(pw.write)
	if s.bodyErr == nil {
		pw.writeLinkScripts(s.header)
		return
	}
	pw.logFailure(s, s.bodyErr)
	switch {
	case written == 0:
		pw.write(s.frag.Fallback)
	case s.frag.Required:
		// The status said 200 and the page is cut: abort, so that neither
		// the browser nor a CDN takes it for whole.
		pw.flush()
		panic(http.ErrAbortHandler)
	}
}

// moverScript is the composer's only inline script, the same bytes after
// every async fragment: it moves the <template> just before it into the
// placeholder the template's id names, then removes both itself and the
// template. Being constant, it is allowed by its hash (ScriptHashes), so a
// page carries no nonce and a CDN may keep it for everyone.
//
// Fragments' markup is in the same document, and named elements shadow
// document's properties (<img name=currentScript>, <form
// name=getElementById>): the script reaches the DOM only through the
// prototypes' methods and getters, which markup cannot replace. And the ids
// it looks up carry a part drawn per page (pageWriter.asyncKey), which a
// fragment does not know when it is written, so that no element of a
// fragment can pass for another's placeholder.
const moverScript = `(function(d){var D=Document.prototype,E=Element.prototype,g=function(o,k){return Object.getOwnPropertyDescriptor(o,k).get},s=g(D,"currentScript").call(d);if(!s)return;var t=g(E,"previousElementSibling").call(s);E.remove.call(s);if(!t||g(E,"tagName").call(t)!=="TEMPLATE")return;var i=E.getAttribute.call(t,"id")||"";E.remove.call(t);if(!/^mfe-async-[0-9]+-[A-Za-z0-9_-]{11}-content$/.test(i))return;var p=D.getElementById.call(d,i.slice(0,-8));if(p&&g(E,"tagName").call(p)==="MFE-PLACEHOLDER")E.replaceWith.call(p,g(HTMLTemplateElement.prototype,"content").call(t))})(document)`

// ScriptHashes lists the CSP sources that allow the composer's inline
// scripts ('sha256-...', space-separated): what {hashes} in COMPOSER_CSP
// becomes: the async mover's, the activator's (package inert: every
// script that runs on a page goes through it), and the debug view's
// overlay script's (overlayScript, on debug pages only).
var ScriptHashes = func() string {
	hashes := []string{inert.Hash}
	for _, script := range []string{moverScript, overlayScript} {
		sum := sha256.Sum256([]byte(script))
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join(hashes, " ")
}()

// newAsyncKey draws the part of a page's placeholder ids that fragments
// cannot guess: 8 random bytes, base64url (11 characters).
func newAsyncKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// asyncID is the id of async slot i's placeholder; its template's is the
// same with "-content".
func (pw *pageWriter) asyncID(i int) string {
	return "mfe-async-" + strconv.Itoa(i) + "-" + pw.asyncKey
}

// writePlaceholder writes an async slot's children in a wrapper the mover
// script can find.
func (pw *pageWriter) writePlaceholder(i int, s *slot) {
	pw.write([]byte(`<mfe-placeholder id="` + pw.asyncID(i) + `" data-fragment="` + html.EscapeString(s.frag.ID) + `">`))
	pw.write(s.frag.Fallback)
	pw.write([]byte(`</mfe-placeholder>`))
}

// writeAsync writes a finished async fragment and the call that moves it
// into place. A failed one replaces its placeholder with nothing.
func (pw *pageWriter) writeAsync(i int, s *slot) {
	id := pw.asyncID(i)
	pw.write([]byte(`<template id="` + id + `-content">`))
	// The debug view's comments move into place with the content.
	pw.debugBegin(s)
	err := s.headFailure()
	if err == nil {
		err = s.bodyErr
	}
	if err != nil {
		pw.logFailure(s, err)
	} else {
		pw.writeLinks(s.header)
		g := htmlguard.Guard{Reserved: pw.page.Template.IDs, Scripts: s.scripts()}
		g.Write(s.body, pw.write)
		g.Close(pw.write)
		pw.writeLinkScripts(s.header)
	}
	pw.debugEnd(s)
	pw.write([]byte(`</template><script>` + moverScript + `</script>`))
}

// pageAssets lists the page's declared assets, each once, in slot order.
func (pw *pageWriter) pageAssets() (css, js []string) {
	seen := map[string]bool{}
	for i := range pw.slots {
		a := pw.slots[i].entry.Assets
		for _, u := range a.CSS {
			if !seen[u] {
				seen[u] = true
				css = append(css, u)
			}
		}
		for _, u := range a.JS {
			if !seen[u] {
				seen[u] = true
				js = append(js, u)
			}
		}
	}
	return css, js
}

func (pw *pageWriter) preloadHeader() string {
	css, js := pw.pageAssets()
	var b strings.Builder
	for _, u := range css {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("<" + u + ">; rel=preload; as=style")
	}
	for _, u := range js {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		sc := pw.script(u)
		if sc.Type == "module" {
			// A module preloaded as a classic script would be fetched
			// twice (another request mode).
			b.WriteString("<" + u + ">; rel=modulepreload")
		} else {
			b.WriteString("<" + u + ">; rel=preload; as=script")
		}
		if sc.Crossorigin != "" {
			b.WriteString("; crossorigin=" + sc.Crossorigin)
		}
	}
	return b.String()
}

// script is how the registry asks for script u to be loaded (the first
// entry of the page that gives it attributes); a classic script, deferred,
// when none does.
func (pw *pageWriter) script(u string) registry.Script {
	for i := range pw.slots {
		if sc, ok := pw.slots[i].entry.Assets.Scripts[u]; ok {
			return sc
		}
	}
	return registry.Script{Defer: true}
}

func (pw *pageWriter) writeAssets() {
	css, js := pw.pageAssets()
	var b bytes.Buffer
	for _, u := range css {
		pw.asset("css", u)
		b.WriteString(`<link rel="stylesheet" href="` + html.EscapeString(u) + `">` + "\n")
	}
	for _, u := range js {
		pw.asset("js", u)
		b.WriteString(scriptTag(u, pw.script(u)) + "\n")
	}
	pw.write(b.Bytes())
}

// logFailure logs why a fragment gave no (or only part of its) body: its
// deadline (timeout_ms), how long it had run (elapsed_ms), whether its body
// was cut after a 2xx status, and a timeout as "timed out after N ms".
// Levels: a browser gone or an open breaker, debug; a required fragment's
// 404 or 410 (the page is a 404, as for an unknown product), info; any
// other failure, warn (the page's own line says its status).
func (pw *pageWriter) logFailure(s *slot, err error) {
	if pw.c.Log == nil {
		return
	}
	level := slog.LevelWarn
	var rejected *breaker.RejectedError
	switch {
	case errors.Is(err, context.Canceled):
		level = slog.LevelDebug // the browser went away
	case errors.As(err, &rejected):
		// Every page would log it while a breaker is open: the breaker
		// logs its changes of state instead.
		level = slog.LevelDebug
	case s.frag.Required && s.err == nil && (s.status == http.StatusNotFound || s.status == http.StatusGone):
		level = slog.LevelInfo
	}
	timeout := pw.c.timeout(s)
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("timed out after %d ms", timeout.Milliseconds())
	}
	attrs := []slog.Attr{
		slog.String("request_id", pw.requestID),
		slog.String("fragment", s.frag.ID),
	}
	if s.version != "" {
		attrs = append(attrs, slog.String("version", s.version))
	}
	attrs = append(attrs, slog.Bool("required", s.frag.Required), slog.String("error", msg), slog.Int64("timeout_ms", timeout.Milliseconds()))
	if !s.started.IsZero() {
		attrs = append(attrs, slog.Float64("elapsed_ms", float64(time.Since(s.started).Microseconds())/1000))
	}
	if err == s.bodyErr {
		attrs = append(attrs, slog.Bool("cut", true))
	}
	pw.c.Log.LogAttrs(context.Background(), level, "fragment failed", attrs...)
}
