package stream

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/htmlguard"
	"github.com/ssr-mfe/composer/composer/internal/flush"
	"github.com/ssr-mfe/composer/composer/internal/gather"
	"github.com/ssr-mfe/composer/composer/template"
)

// pageWriter writes one page.
type pageWriter struct {
	w         http.ResponseWriter
	conn      *gather.Conn // nil: the connection cannot gather
	c         *Composer
	page      *Page
	slots     []slot
	requestID string
	dirty     bool // written since the last flush
	// dirtySince is when the first byte not yet flushed was written: the
	// flush delay counts from it, so bytes that keep coming never put the
	// flush off longer than the delay.
	dirtySince time.Time
	pending    int     // bytes written since the last flush
	buf        *[]byte // written, not yet handed to w (handOver); nil when empty
	flushed    bool    // the first flush (the page head) is done
	timer      *time.Timer
	broken     bool // the browser has gone
	canary     *canaryState
	canaryv    canaryState    // a page's own (canary points here)
	fetches    sync.WaitGroup // the fetches on goroutines of their own (begin)
	async      chan int       // async slots' indexes, once in (begin)
	early      bool           // no required slot: the head goes out before the requests (serve)
	headOnly   bool           // a HEAD request: the status and headers, and no fragment only the body needs
	ended      bool           // serve returned, not by a panic
	// guard is the slot being written's (newGuard): here, not in the
	// writing frame, which is on the stack while the page waits.
	guard     htmlguard.Guard
	scripts   htmlguard.Scripts // the guard's (newGuard)
	guardOpen bool              // newGuard gave guard out, and it is not closed
	asyncKey  string            // the random part of the async placeholders' ids
	pageURL   *url.URL          // the page's request URL: relative redirects resolve against it
	mode      pageMode

	overlayWritten bool        // the debug view's script is in the page
	rawQuery       string      // the page query every fragment got (pageQuery): island URLs carry it
	fragHeader     http.Header // the Header its plain entries' requests share (prepare)
	next           int         // the template part writeParts goes on from

	assets map[string]bool // the asset URLs written, by kind (asset)

	emitFn func([]byte) // write as a function value, made once a page (emit)

	cancelCtx context.CancelFunc // ends ctx (cancel: and the inline read)
	waitHook  func() error       // beforeWait as a function value, made once a page

	// The fragment read on the page's goroutine (fetchInline): its clock,
	// which the page's end must reach (endInline, registered once a page
	// on ctx, the page's context) and the wait hook arms.
	ctx         context.Context
	detachedCtx context.Context // ctx without its cancellation, the inline clocks' parent
	inlineClock atomic.Pointer[clock]
	stopEnds    func() bool // the registration, from the first inline fragment on
}

// newGuard gives the guard of s's markup: it keeps the fragment from
// breaking the page, and its elements from taking or naming the page's
// ids. One slot is written at a time.
//
// The guard and its Scripts are the page writer's, one slot's at a time: a
// guard closed at the end of the slot before keeps its buffers (its stack
// of open elements, a tag held across reads), and is given to the next
// with its fields set, as htmlguard allows; one left open (a slot cut
// short) is replaced.
func (pw *pageWriter) newGuard(s *slot) *htmlguard.Guard {
	pw.scripts = s.scriptsValue()
	if pw.guardOpen {
		pw.guard = htmlguard.Guard{}
	}
	pw.guard.Reserved, pw.guard.Scripts = pw.page.Template.IDs, &pw.scripts
	if scope := pw.page.Template.Scope; scope != 0 {
		// A whole body read before, under this template's ids, is not
		// read again (htmlguard.Guard.WriteWhole).
		pw.guard.Passed, pw.guard.Scope = pw.c.passedBodies(), scope
	}
	pw.guardOpen = true
	return &pw.guard
}

// requiredTiming is a page's Server-Timing: how long its required
// fragments held its status line, in milliseconds.
const (
	requiredTiming   = "required;dur=%.1f;desc=\"waiting for required fragments\""
	noRequiredTiming = "required;dur=0.0;desc=\"waiting for required fragments\""
)

// The header values every page has, shared by every page's header (the
// values a header holds are never changed in place: net/http and our
// handlers set or add, which make new ones). A page's head costs no
// allocation for them.
var (
	noRequiredTimingValue     = []string{noRequiredTiming}
	personalCacheControlValue = []string{personalCacheControl}
	htmlTypeValue             = []string{"text/html; charset=utf-8"}
	noBufferingValue          = []string{"no"}
	nosniffValue              = []string{"nosniff"}
)

// start writes the response header once the required fragments have given
// their status. It reports whether the page body should follow.
func (pw *pageWriter) start(ctx context.Context) bool {
	began := time.Now()
	for i := range pw.slots {
		s := &pw.slots[i]
		if !s.frag.Required {
			continue
		}
		if s.inline {
			pw.fetchInline(s) // ready when it returns
		} else {
			select {
			case <-s.ready:
			case <-ctx.Done():
				return false
			}
		}
		if ctx.Err() != nil {
			// The visitor has gone (its fragment's read was cut for it, or
			// the answer came as it left): no page, and no error page.
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
	// held the status line (a page without one: always the same).
	if pw.early {
		h["Server-Timing"] = noRequiredTimingValue
	} else {
		h.Set("Server-Timing", fmt.Sprintf(requiredTiming, float64(time.Since(began).Microseconds())/1000))
	}
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
		h["Cache-Control"] = personalCacheControlValue
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
	h["Content-Type"] = htmlTypeValue
	h["X-Content-Type-Options"] = nosniffValue
	// The page streams: nginx and ingress-nginx, which buffer proxied
	// answers by default, pass this one on as it comes (docs/proxies.md).
	h["X-Accel-Buffering"] = noBufferingValue
	if link := pw.preloadHeader(); link != "" {
		h.Set("Link", link)
	}
	pw.w.WriteHeader(http.StatusOK)
	return true
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

// write gathers b into the page's buffer; the buffer goes to the
// ResponseWriter at the next flush, at the page's end, or once it holds
// pageBufferSize bytes: a few large writes a page instead of one for every
// piece the template and the guard give, each of which would pay its
// write deadline, the compressor's call and net/http's chunking.
func (pw *pageWriter) write(b []byte) {
	if pw.broken || len(b) == 0 {
		return
	}
	if pw.buf == nil {
		pw.buf = pageBuffers.Get().(*[]byte)
	}
	*pw.buf = append(*pw.buf, b...)
	if !pw.dirty {
		pw.dirtySince = time.Now()
	}
	pw.dirty = true
	pw.pending += len(b)
	if len(*pw.buf) >= pageBufferSize {
		pw.handOver()
	}
}

// handOver writes what the buffer holds to the ResponseWriter and gives
// the buffer back to the pool: a page waiting for a fragment holds none.
func (pw *pageWriter) handOver() {
	if pw.buf == nil {
		return
	}
	if !pw.broken && len(*pw.buf) > 0 {
		if _, err := pw.w.Write(*pw.buf); err != nil {
			pw.broken = true
		}
	}
	if cap(*pw.buf) <= 4*pageBufferSize {
		*pw.buf = (*pw.buf)[:0]
		pageBuffers.Put(pw.buf)
	}
	pw.buf = nil
}

// pageBufferSize is the most a page gathers before handing it over, and
// its buffers' first size.
const pageBufferSize = 16 << 10

var pageBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, pageBufferSize)
	return &b
}}

// emit is write as a function value for the guard, made once a page: a
// method value passed on is an allocation each time.
func (pw *pageWriter) emit() func([]byte) {
	if pw.emitFn == nil {
		pw.emitFn = pw.write
	}
	return pw.emitFn
}

func (pw *pageWriter) flush() {
	if pw.broken || !pw.dirty {
		return
	}
	pw.handOver()
	if pw.broken {
		return
	}
	pw.flushed = true
	if err := flush.Flush(pw.w); err != nil {
		pw.broken = true
	}
	if pw.conn != nil && pw.conn.Release() != nil {
		pw.broken = true
	}
	pw.dirty = false
	pw.pending = 0
}

// idle is called when the writer is about to block. It flushes at once the
// first time, and otherwise returns a channel that fires when the caller,
// still blocked, should flush (nil: nothing to flush): FlushDelay after
// the first byte not yet flushed was written, however many came since,
// or at once with pageBufferSize bytes pending.
func (pw *pageWriter) idle() <-chan time.Time {
	if pw.broken || !pw.dirty {
		return nil
	}
	if !pw.flushed || pw.c.FlushDelay <= 0 {
		pw.flushed = true
		pw.flush()
		return nil
	}
	// A buffer's worth pending is flushed at once: waiting would save no
	// write worth having, and would hold the page's buffers meanwhile (a
	// thousand pages streaming large fragments held 10 MB more).
	wait := pw.c.FlushDelay - time.Since(pw.dirtySince)
	if wait <= 0 || pw.pending >= pageBufferSize {
		pw.flush()
		return nil
	}
	if pw.timer == nil {
		pw.timer = time.NewTimer(wait)
	} else {
		pw.timer.Reset(wait)
	}
	return pw.timer.C
}

// waitFor receives from ch, flushing what was written while it waits. ok
// is false when ch is closed; alive is false when the page's context ended
// or a flush found the browser gone.
func waitFor[T any](pw *pageWriter, ctx context.Context, ch <-chan T) (v T, ok, alive bool) {
	select {
	case v, ok = <-ch:
		return v, ok, true
	default:
	}
	tick := pw.idle()
	if pw.broken {
		return v, false, false
	}
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
			if pw.broken {
				return v, false, false
			}
		case <-ctx.Done():
			return v, false, false
		}
	}
}

// writeHead writes the template's parts before its first slot and
// flushes them: the page's first bytes.
func (pw *pageWriter) writeHead() {
	parts := pw.page.Template.Parts
	for ; pw.next < len(parts) && !pw.broken; pw.next++ {
		switch part := parts[pw.next]; part.Kind {
		case template.Raw:
			pw.write(part.Raw)
		case template.HeadOutlet:
			pw.writeAssets()
			pw.writeOverlay()
		default:
			pw.flushed = true
			pw.flush()
			return
		}
	}
}

func (pw *pageWriter) writeParts(ctx context.Context, async <-chan int) {
	tpl := pw.page.Template
	for _, part := range tpl.Parts[pw.next:] {
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
			if s.frag.Client {
				pw.writeIsland(s)
				continue
			}
			if s.frag.Async {
				pw.writePlaceholder(part.Slot, s)
				continue
			}
			pw.debugBegin(s)
			pw.writeSlot(ctx, s)
			if !pw.broken {
				pw.debugEnd(s)
			}
			s.letGo()
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
	pw.handOver()
}

// writeSlot copies one fragment to the browser as its chunks arrive.
func (pw *pageWriter) writeSlot(ctx context.Context, s *slot) {
	if s.inline {
		pw.writeInline(s)
		return
	}
	if _, _, alive := waitFor(pw, ctx, s.ready); !alive {
		pw.broken = true
		return
	}
	if err := s.headFailure(); err != nil {
		pw.logFailure(s, err)
		pw.writeFallback(s)
		return
	}
	pw.writeLinks(s.header)
	g := pw.newGuard(s)
	written := 0
	s.startWriting()
	for {
		chunk, ok, alive := waitFor(pw, ctx, s.chunks)
		if !alive {
			pw.broken = true
			return
		}
		if !ok {
			break
		}
		g.Write(*chunk, pw.emit())
		written += len(*chunk)
		pw.c.putChunk(chunk)
		if pw.broken {
			// The browser is gone or stopped reading (a write deadline):
			// reading on would only hold the fragment longer.
			return
		}
	}
	pw.endSlot(s, g, int64(written))
}

// endSlot closes a slot's guard and writes what follows its body: the
// fragment's link scripts, or, for a body that failed, its fallback (none
// of it written) or the page's abort (a required fragment cut).
func (pw *pageWriter) endSlot(s *slot, g *htmlguard.Guard, written int64) {
	g.Close(pw.emit())
	pw.guardOpen = false
	if s.bodyErr == nil {
		pw.writeLinkScripts(s.header)
		return
	}
	pw.logFailure(s, s.bodyErr)
	switch {
	case written == 0:
		pw.writeFallback(s)
	case s.frag.Required:
		// The status said 200 and the page is cut: abort, so that neither
		// the browser nor a CDN takes it for whole.
		pw.flush()
		panic(http.ErrAbortHandler)
	}
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
	// The fragment's deadline, when it can have run out: a fragment's
	// clock runs at most the time since its start. Before that, a timeout
	// is another's (a dial's own 2 s), and its error says which.
	if errors.Is(err, context.DeadlineExceeded) && (s.started.IsZero() || time.Since(s.started) >= timeout) {
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
