package server

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/flush"
	"github.com/ssr-mfe/composer/composer/internal/gather"
)

// StalledWriteTimeout is the longest a write may wait while the server is
// at its page cap (Options.MaxPages), instead of WriteTimeout: a visitor
// who has stopped reading must not keep other visitors' pages out for
// long. docs/resilience.md, "Load shedding".
const StalledWriteTimeout = 2 * time.Second

// squeezeEvery bounds how often a shed page makes the server look for
// stalled writes: under a flood of shed pages, once per this.
const squeezeEvery = 100 * time.Millisecond

// deadlines gives every write of a response its own deadline, d from the
// moment it starts: a client that stops reading is dropped once one write
// has waited d, while a long stream that the client keeps reading is never
// cut (unlike http.Server's WriteTimeout, one deadline for the whole
// response). A page whose write fails stops, and its fragment requests are
// cancelled.
//
// While the server is at its page cap (atCap), a write may wait only
// StalledWriteTimeout (or d, when shorter): a write that starts then gets
// that deadline, and squeeze, called when a page is shed, brings the
// deadline of every write in progress down to StalledWriteTimeout from
// its start. So connections that do not read cannot hold the cap for d
// (30 s by default), and their pages end without their fragments being
// read to the end.
type deadlines struct {
	d     time.Duration // 0: no deadline below the cap
	atCap func() bool   // nil: no cap

	mu      sync.Mutex
	writers map[*deadlineWriter]struct{}
	last    atomic.Int64 // when squeeze last ran, Unix nanoseconds
}

// middleware applies the deadlines to every response.
func (dl *deadlines) middleware(next http.Handler) http.Handler {
	if dl.d <= 0 && dl.atCap == nil {
		return next
	}
	return &deadlineHandler{dl, next}
}

// deadlineHandler is the middleware: a type, not an http.HandlerFunc (see
// requestID).
type deadlineHandler struct {
	dl   *deadlines
	next http.Handler
}

func (h *deadlineHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dl := h.dl
	dw := &deadlineWriter{ResponseWriter: w, dl: dl, conn: gather.FromContext(r.Context())}
	// net/http's own writer sets the deadline itself: no controller to
	// allocate a request.
	if sd, ok := w.(writeDeadliner); ok {
		dw.rc = sd
	} else {
		dw.rc = http.NewResponseController(w)
	}
	if dl.atCap != nil {
		dl.mu.Lock()
		dl.writers[dw] = struct{}{}
		dl.mu.Unlock()
		defer dl.forget(dw)
	}
	// What is written without a Write of ours (the end of the response
	// after the handler) is bounded too.
	dw.extend(time.Now())
	h.next.ServeHTTP(dw, r)
}

// forget ends dw's part in squeeze, once its response ended.
func (dl *deadlines) forget(dw *deadlineWriter) {
	dl.mu.Lock()
	delete(dl.writers, dw)
	dl.mu.Unlock()
}

// squeeze brings the deadline of every write in progress down to
// StalledWriteTimeout from its start (a write that has waited that long
// fails at once). It runs at most once per squeezeEvery.
func (dl *deadlines) squeeze() {
	if dl.atCap == nil {
		return
	}
	now := time.Now()
	last := dl.last.Load()
	if now.UnixNano()-last < int64(squeezeEvery) || !dl.last.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	dl.mu.Lock()
	defer dl.mu.Unlock()
	for w := range dl.writers {
		w.squeeze()
	}
}

// writeDeadliner sets a response's write deadline: net/http's
// ResponseWriter and http.ResponseController do.
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// deadlineWriter sets the connection's write deadline before each write
// and flush.
type deadlineWriter struct {
	http.ResponseWriter
	rc writeDeadliner // w's own, or an http.ResponseController of it
	dl *deadlines
	// conn, when the response is a page's (package gather), holds what
	// net/http writes until the page's flush: the flush sends it here,
	// within the write's deadline and squeeze's reach.
	conn *gather.Conn

	// mu orders the deadline set by a write's own goroutine and squeeze's:
	// since is when the write in progress started, zero when none is.
	mu       sync.Mutex
	since    time.Time
	limited  bool      // a deadline of ours is set
	deadline time.Time // the one set, when limited
}

// deadlineSlack is the share of d by which a write's deadline may be
// later than d from its start: a deadline is set with this much to spare,
// and a write that starts within it keeps the one set. A page makes
// several writes and flushes moments apart, and setting a deadline costs
// about as much as a small write's work in user space; each write still
// gets d at least (d + d/16 at most).
const deadlineSlack = 16

// timeout is the deadline a write starting now gets.
func (w *deadlineWriter) timeout() time.Duration {
	d := w.dl.d
	if w.dl.atCap != nil && w.dl.atCap() && (d <= 0 || d > StalledWriteTimeout) {
		d = StalledWriteTimeout
	}
	return d
}

// extend sets the deadline of a write starting now. With none to set, it
// lifts only one it set before: lifting a deadline ends a page's gathering
// (package gather).
func (w *deadlineWriter) extend(now time.Time) {
	if d := w.timeout(); d > 0 {
		want := now.Add(d)
		if w.limited && !w.deadline.Before(want) && w.deadline.Sub(want) <= d/deadlineSlack {
			return // set a moment ago, with enough to spare
		}
		w.deadline = want.Add(d / deadlineSlack)
		_ = w.rc.SetWriteDeadline(w.deadline)
		w.limited = true
	} else if w.limited {
		_ = w.rc.SetWriteDeadline(time.Time{})
		w.limited = false
	}
}

// begin starts a write: its deadline, and since for squeeze.
func (w *deadlineWriter) begin() {
	w.mu.Lock()
	w.since = time.Now()
	w.extend(w.since)
	w.mu.Unlock()
}

func (w *deadlineWriter) end() {
	w.mu.Lock()
	w.since = time.Time{}
	w.mu.Unlock()
}

func (w *deadlineWriter) squeeze() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since.IsZero() {
		return
	}
	w.deadline = w.since.Add(StalledWriteTimeout)
	_ = w.rc.SetWriteDeadline(w.deadline)
	w.limited = true
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.begin()
	defer w.end()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	_ = w.FlushError()
}

// FlushError lets http.ResponseController report a failed flush.
func (w *deadlineWriter) FlushError() error {
	w.begin()
	defer w.end()
	if err := flush.Flush(w.ResponseWriter); err != nil {
		return err
	}
	if w.conn != nil {
		return w.conn.Release()
	}
	return nil
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
