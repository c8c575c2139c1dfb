package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// A page's sync slots are fetched inline where the transports allow it:
//
//	serve:      sendAhead each slot: its request leaves at once (fetch.Presend)
//	start:      fetchInline each required slot, in order: its head
//	writeParts: writeInline each slot in the page's order: fetchInline,
//	            then its body, read by the page's goroutine into the guard
//	any end:    finishInline every slot sent: observed, closed, released
//
// No goroutine waits for the answer and no queue holds its body: the
// answer waits in its socket (the kernel's memory) until the page reaches
// it. The wire calls the page's beforeWait when a read would block, and
// the page flushes what it wrote: bytes never wait behind a fragment that
// has not answered. A slot whose request cannot be sent ahead (a cache
// hit, an open breaker, a hedged entry, a transport that cannot split its
// work) is fetched on a goroutine of its own, as an async slot is.

// sendAhead sends s's request ahead of its fetch, and reports whether it
// did. The fragment's time counts from now.
func (c *Composer) sendAhead(ctx context.Context, s *slot) bool {
	s.started = time.Now()
	s.sendCtx = ctx
	if c.Tracer != nil {
		// The span's traceparent goes with the request, which leaves now.
		s.sendCtx, s.span = c.startSpan(ctx, s, s.req)
	}
	if !fetch.Presend(c.Fetch, s.sendCtx, s.req) {
		return false
	}
	s.inline = true
	return true
}

// errBrowserGone fails a fragment read that would wait for a page whose
// browser has gone (a flush before the wait found it so).
var errBrowserGone = fmt.Errorf("the browser has gone: %w", context.Canceled)

// beforeWait is the page's hook for the wire (fetch.WithWaitHook): a read
// of one of its fragments is about to wait for bytes, so what the page
// wrote goes to the browser now. A browser found gone ends the page's
// fragment requests (their breakers count nothing) and the read.
//
// The read's clock is armed here: it runs without a timer until a read
// waits.
func (pw *pageWriter) beforeWait() error {
	pw.flush()
	if pw.broken {
		pw.cancel()
		return errBrowserGone
	}
	if k := pw.inlineClock.Load(); k != nil {
		k.arm()
	}
	return nil
}

// fetchInline fetches s's answer on the page's goroutine: the head, then
// ready is closed. Its deadline counts from the request's send, as a
// goroutine's would; an answer already there when the page reaches it
// (after a tenth of the deadline or more) has the whole deadline for its
// body, even when the deadline passed while the page wrote earlier slots:
// it came, the page was busy (what the breaker judges is the fragment,
// never the composer's own waiting).
func (pw *pageWriter) fetchInline(s *slot) {
	if s.readyClosed {
		return
	}
	c := pw.c
	timeout := c.timeout(s)
	now := time.Now()
	elapsed := now.Sub(s.started)
	left := timeout - elapsed
	if elapsed > timeout/10 && fetch.Answered(s.req) {
		// Its answer came while the page wrote earlier slots: that time
		// is the page's, and the body has the fragment's whole budget.
		left = timeout
	}
	s.clk = &s.clockv
	// The clock's context is not a child the page's context keeps (a
	// registration, a map entry, a removal, a fragment): the page's end
	// reaches the clock of the read under way through one registration a
	// page (endInline), its cancel too, and finishInline a clock whose
	// page has ended. Values still come from sendCtx.
	s.ctx = s.clk.startAt(pw.detached(s.sendCtx), left, true, now)
	if pw.waitHook == nil {
		pw.waitHook = pw.beforeWait
	}
	pw.inlineClock.Store(s.clk)
	if pw.stopEnds == nil {
		pw.stopEnds = context.AfterFunc(pw.ctx, pw.endInline)
	}
	if pw.ctx.Err() != nil {
		// Ended as the clock started: endInline may have looked before.
		s.clk.end(context.Cause(pw.ctx))
	}
	s.waits = fetch.Waits{Hook: pw.waitHook, End: s.clk}
	resp, err := c.fetchHead(fetch.WithWaits(s.ctx, &s.waits), s)
	now = time.Now()
	s.clk.pauseAt(now) // until the writer reads the body
	s.headTime = now.Sub(s.started)
	if resp != nil && !resp.Arrived.IsZero() {
		// It came before the page read it.
		s.headTime = min(s.headTime, max(0, resp.Arrived.Sub(s.started)))
	}
	s.answeredAfter(resp, s.headTime)
	switch {
	case pw.broken:
		err = errBrowserGone
		fallthrough
	case err != nil:
		if resp != nil {
			resp.Body.Close()
		}
		s.err = deadlineErr(s.ctx, err)
		s.markReady()
		c.finishInline(s)
		return
	}
	s.resp = resp
	s.status, s.header, s.age = resp.Status, resp.Header, resp.Age
	s.markReady()
	if s.status < 200 || s.status > 299 {
		c.finishInline(s)
	}
}

// endInline is the page's end reaching the fragment it reads: that
// fragment's clock ends with the page's cause, and its read with it. The
// clocks paused meanwhile are ended by finishInline, before their bodies
// are closed; ending one again does nothing.
func (pw *pageWriter) endInline() {
	if k := pw.inlineClock.Load(); k != nil {
		k.end(context.Cause(pw.ctx))
	}
}

// detached is parent without its cancellation, for an inline clock: the
// page's own context's is made once a page.
func (pw *pageWriter) detached(parent context.Context) context.Context {
	if parent != pw.ctx {
		return context.WithoutCancel(parent) // a span's context
	}
	if pw.detachedCtx == nil {
		pw.detachedCtx = context.WithoutCancel(pw.ctx)
	}
	return pw.detachedCtx
}

// fetchHead is the transports' Fetch, a panic in them kept to the
// fragment (errPanic), as a fetching goroutine keeps it.
func (c *Composer) fetchHead(ctx context.Context, s *slot) (resp *fetch.Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logPanic(s, v)
			resp, err = nil, errPanic
		}
	}()
	return c.Fetch.Fetch(ctx, s.req)
}

// readInline reads s's body, a panic in the transports kept to the
// fragment.
func (c *Composer) readInline(s *slot, p []byte) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logPanic(s, v)
			n, err = 0, errPanic
		}
	}()
	return s.resp.Body.Read(p)
}

func (c *Composer) logPanic(s *slot, v any) {
	if c.Log != nil {
		c.Log.Error("fragment fetch panicked", "fragment", s.frag.ID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
}

// writeInline writes a slot fetched inline: its head, then its body as
// the page reads it. The fragment's clock runs only while a read waits.
func (pw *pageWriter) writeInline(s *slot) {
	pw.fetchInline(s)
	if err := s.headFailure(); err != nil {
		pw.logFailure(s, err)
		pw.writeFallback(s)
		return
	}
	pw.writeLinks(s.header)
	// The page's end and the wait hook reach the fragment read now (a
	// required one's head was read before the others').
	pw.inlineClock.Store(s.clk)
	c := pw.c
	g := pw.newGuard(s)
	written, limit := int64(0), c.maxBytes()
	for !pw.broken {
		bp := c.getChunk()
		began := time.Now()
		s.clk.resumeAt(began)
		n, err := c.readInline(s, *bp)
		ended := time.Now()
		s.bodyTime += ended.Sub(began)
		s.clk.pauseAt(ended)
		if n > 0 && written+int64(n) > limit {
			n, err = 0, errTooLarge
		}
		if n > 0 {
			if written == 0 && err == io.EOF {
				// The whole body in one read, the usual case: one the
				// guard read before is not read again.
				g.WriteWhole((*bp)[:n], pw.emit())
			} else {
				g.Write((*bp)[:n], pw.emit())
			}
			written += int64(n)
		}
		c.putChunk(bp)
		if err == io.EOF {
			break
		}
		if err != nil {
			s.bodyErr = deadlineErr(s.ctx, err)
			break
		}
	}
	if pw.broken {
		// The browser is gone or stopped reading: the fragment is not
		// judged for it.
		pw.cancel()
		if s.bodyErr == nil || !errors.Is(s.bodyErr, context.Canceled) {
			s.bodyErr = errBrowserGone
		}
		c.finishInline(s)
		return
	}
	s.bodyEndedAfter(s.headTime + s.bodyTime)
	c.finishInline(s)
	pw.endSlot(s, g, written)
}

// finishInline ends a slot fetched inline, once: its body closed (a cut
// one counts against the fragment, unless the page went away), its clock
// stopped, a request never read released, its span ended and its outcome
// observed. The page calls it for every slot sent ahead, on every way out.
func (c *Composer) finishInline(s *slot) {
	if s.finished {
		return
	}
	s.finished = true
	if s.clk != nil && s.sendCtx.Err() != nil {
		// The page has ended: the clock (detached from the page's
		// context, see fetchInline) ends as a child of it would have,
		// before the body is closed, so that the breaker counts nothing.
		s.clk.end(context.Cause(s.sendCtx))
	}
	if s.resp != nil {
		s.resp.Body.Close()
	}
	fetch.Release(s.req)
	if s.clk != nil {
		s.clk.stop()
	}
	if !s.readyClosed {
		// Never reached: the page ended first.
		s.err = context.Canceled
		s.markReady()
	}
	if s.span != nil {
		endSpan(s.span, s)
	}
	if c.Observer != nil {
		took := s.headTime + s.bodyTime
		if s.headTime == 0 {
			took = time.Since(s.started) // never reached, or failed before its head
		}
		c.Observer.Fragment(s.frag.ID, s.version, s.outcome(), took)
	}
}

// letGo drops the answer of a slot fetched inline once it is written: the
// answer the wire read and its header, about 1.5 KB a fragment, which
// nothing reads after its body (the page's status and Cache-Control were
// decided before, the debug view's figures are the slot's own). A page
// streaming its later fragments no longer keeps its earlier ones' heads.
func (s *slot) letGo() {
	if s.inline && s.finished {
		s.resp, s.header = nil, nil
	}
}
