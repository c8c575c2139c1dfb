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
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/htmlguard"
	"github.com/ssr-mfe/composer/composer/internal/gather"
	"github.com/ssr-mfe/composer/composer/island"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// Resolver finds a fragment's registration.
type Resolver interface {
	// Ref returns id's entry, shared: the composer never changes it.
	Ref(id string) (*registry.Entry, bool)
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
	// written reads ahead: with its queue full it reads no further, the
	// rest of its body waiting in its socket.
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
	// Islands, if set, signs the island requests of client slots (and of
	// client-fallback slots whose fetch failed); nil shows their fallback.
	Islands *island.Ring
	// IslandMinLife and IslandSkew shape an island URL's life
	// (island.Lifetime); zero takes DefaultIslandMinLife and
	// DefaultIslandSkew.
	IslandMinLife, IslandSkew time.Duration

	pool       sync.Pool // *[]byte of ChunkSize
	chunksMade atomic.Int64

	// passed keeps what the guard made of the fragment bodies it read, by
	// template (htmlguard.Passed): made at the first.
	passedOnce sync.Once
	passed     *htmlguard.Passed
}

// passedSlots is how many bodies passed keeps: 32 KiB of slots, and
// under 1 KB a body kept (about 150 bytes for a usual one): 4 MB at the
// very most.
const passedSlots = 1 << 12

func (c *Composer) passedBodies() *htmlguard.Passed {
	c.passedOnce.Do(func() { c.passed = htmlguard.NewPassed(passedSlots) })
	return c.passed
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

// Serve composes p and writes it to w. It returns when the page is written
// or the browser has gone; all fragment requests have ended by then.
//
// When a required fragment fails after the page has started, Serve panics
// with http.ErrAbortHandler so that the server aborts the response and no
// CDN caches a truncated page.
func (c *Composer) Serve(w http.ResponseWriter, r *http.Request, p *Page) {
	conn := gather.FromContext(r.Context())
	if conn == nil || r.Body != nil && r.Body != http.NoBody {
		// A request body the page does not read is what net/http reads
		// after the response, before any step that would send a held end:
		// such a page is not gathered.
		c.serve(w, r, p, nil)
		return
	}
	// Each flush reaches the socket in one write, and so does the page's
	// end: net/http's next step on the connection sends it (package
	// gather). A panic sends what is held before net/http cuts the
	// connection.
	conn.Gather()
	c.serve(w, r, p, conn)
}

// begin starts s's fetch: a sync slot's request is sent ahead, its answer
// read by the page's goroutine (inline.go); any other is fetched on a
// goroutine of its own, which fetches counts and which hands an async
// slot's index to async once it is in.
func (c *Composer) begin(ctx context.Context, s *slot, i int, fetches *sync.WaitGroup, async chan int) {
	if !s.frag.Async && s.peeked == nil && c.sendAhead(ctx, s) {
		return
	}
	fctx := ctx
	if s.span != nil {
		fctx = s.sendCtx
	}
	s.ready = make(chan struct{}) // the goroutine's to close, the page's to wait for
	if !s.frag.Async {
		s.chunks = make(chan *[]byte, c.queueChunks()) // the pump's queue
	}
	fetches.Add(1)
	fetchWorkers.Go(func() {
		defer fetches.Done()
		c.fetch(fctx, s, s.req)
		if s.frag.Async {
			async <- i
		}
	})
}

func (c *Composer) serve(w http.ResponseWriter, r *http.Request, p *Page, conn *gather.Conn) {
	// The page's state is in its pageWriter, not in this frame: the page's
	// goroutine waits for fragments beneath it, and what a frame holds
	// there is stack every waiting page keeps (TestAPageFitsAStackOf8KiB).
	pw := c.newPage(w, r, p, conn)
	// On every way out, panics included: stop the fragment requests, then
	// wait for them, so nothing outlives the page; a panic sends what the
	// gathered connection holds before net/http cuts it.
	defer pw.endFetches()
	// On every way out, the slots sent ahead are closed and observed: the
	// page's fragment requests end first, so that a body closed unread
	// counts against no fragment.
	defer pw.finishSlots()
	pw.prepareSlots(r)
	if pw.start(pw.ctx) && !pw.headOnly {
		if pw.early {
			pw.writeHead()
			pw.beginAll()
		}
		pw.writeParts(pw.ctx, pw.async)
	}
	pw.ended = true
}

// newPage makes the pageWriter of a page and its slots, and the page's
// context.
//
//go:noinline
func (c *Composer) newPage(w http.ResponseWriter, r *http.Request, p *Page, conn *gather.Conn) *pageWriter {
	ctx, cancel := context.WithCancel(r.Context())
	pw := &pageWriter{w: w, conn: conn, c: c, page: p, slots: make([]slot, len(p.Template.Slots)), requestID: p.RequestID, pageURL: r.URL, mode: newPageMode(r), cancelCtx: cancel, ctx: ctx}
	pw.canary = &pw.canaryv
	pw.rawQuery = pageQuery(r.URL, p.Params)
	if n := p.Template.Async; n > 0 {
		pw.async = make(chan int, n)
		pw.asyncKey = newAsyncKey() // only async placeholders carry it
	}
	// Without a required fragment, the status and headers are known before
	// any fragment answers: the page's head (the bytes before its first
	// slot) goes out first, and the fragment requests after it, so that
	// the browser's first byte waits for no dial and no request's write.
	pw.early = !slices.ContainsFunc(p.Template.Slots, func(f template.Fragment) bool { return f.Required })
	// HEAD asks for what GET's status and headers are: the required
	// fragments (their status) and the cache's peeks, not the fragments
	// only the body would show (net/http sends no body for HEAD).
	pw.headOnly = r.Method == http.MethodHead
	return pw
}

// cancel ends the page's fragment requests: its context, and at once
// the clock of the fragment it reads (detached from the context, see
// fetchInline), so that the read under way ends, and its breaker is told
// the page went away, before the page goes on. Clocks paused are ended by
// finishInline, before their bodies are closed.
func (pw *pageWriter) cancel() {
	pw.cancelCtx()
	if k := pw.inlineClock.Load(); k != nil {
		k.end(context.Canceled)
	}
}

// endFetches stops the page's fragment requests, then waits for them.
// On a panic (ended is false) the gathered connection sends what it holds.
func (pw *pageWriter) endFetches() {
	pw.cancel()
	pw.fetches.Wait()
	if !pw.ended && pw.conn != nil {
		_ = pw.conn.Stop()
	}
}

// beginAll begins every slot prepared (an early page's, once its head is
// out).
//
//go:noinline
func (pw *pageWriter) beginAll() {
	for i := range pw.slots {
		if s := &pw.slots[i]; s.req != nil {
			pw.c.begin(pw.ctx, s, i, &pw.fetches, pw.async)
		}
	}
}

// prepareSlots makes each slot's request. A page with a required
// fragment (not early) begins every fetch now (for HEAD, the required
// ones only); an early page begins them once its head is out (serve), and
// for HEAD never.
//
//go:noinline
func (pw *pageWriter) prepareSlots(r *http.Request) {
	c, p := pw.c, pw.page
	for i := range pw.slots {
		s := &pw.slots[i]
		req := c.prepare(r, p, i, s, &pw.mode, pw.canary, pw.rawQuery, &pw.fragHeader)
		if req == nil || s.frag.Client {
			// Not registered, or the browser's to fill: the page holds its
			// fallback as if it were static.
			s.ready, s.readyClosed = closedReady, true
			if s.frag.Async {
				pw.async <- i
			}
			continue
		}
		s.req = req
		if pk, ok := c.Fetch.(Peeker); ok && !s.frag.Required {
			s.peeked = pk.Peek(req)
		}
		if !pw.early && (s.frag.Required || !pw.headOnly) {
			c.begin(pw.ctx, s, i, &pw.fetches, pw.async)
		}
	}
	pw.mode.writeHeaders(pw.w.Header())
}

// finishSlots ends the page's fragment requests, then closes and
// observes every slot sent ahead.
//
// A page that ended early (its visitor gone, a write failed, a required
// fragment cut) leaves the slots whose head was read but whose body it
// never reached: each is canceled, not ok (a HEAD page, which reads no
// body, ends as planned).
func (pw *pageWriter) finishSlots() {
	if pw.stopEnds != nil {
		pw.stopEnds() // a page that ends as planned needs no goroutine for it
	}
	early := pw.broken || pw.ctx.Err() != nil || !pw.ended
	pw.cancel()
	for i := range pw.slots {
		if s := &pw.slots[i]; s.inline {
			if early && !s.finished && s.readyClosed && s.err == nil && s.bodyErr == nil {
				s.bodyErr = context.Canceled
			}
			pw.c.finishInline(s)
		}
	}
}
