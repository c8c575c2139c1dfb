package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/htmlguard"
	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// errNotRegistered is a slot whose id has no registry entry.
var errNotRegistered = errors.New("fragment id is not registered")

// errTooLarge is a fragment body longer than MaxFragmentBytes.
var errTooLarge = errors.New("fragment body exceeds the size limit")

// slot is the state of one fragment while its page streams.
type slot struct {
	frag    *template.Fragment
	index   int             // in the template's Slots
	entry   *registry.Entry // the registry's own, never changed; noEntry when unregistered
	version string          // the canary version chosen, "" for an entry without versions
	// ready is closed once status/header/err are set, for a slot fetched
	// on a goroutine (begin makes it); a slot read inline (or never
	// fetched) has none: its page reads readyClosed.
	ready chan struct{}

	// Set before ready is closed.
	status int
	header http.Header
	age    time.Duration // the answer's age, when a cache handed it out
	err    error

	req     *fetch.Request
	request fetch.Request // what req points to, for a slot of a page (prepare)
	chunks  chan *[]byte  // non-async body, closed when the body ends: pooled chunks (getChunk), each sliced to its bytes
	body    []byte        // async body, whole
	bodyErr error         // set before chunks is closed (or before async completion)

	// known is an island's: its answer is in before anything is written
	// (cacheControl reads it as a required slot's).
	known bool

	// peeked is an optional fragment's answer handed out by the cache
	// before the page's header (set before its fetch starts).
	peeked *fetch.Response

	// Only the fetching goroutine reads and writes these.
	readyClosed, chunksClosed bool

	// writing is set once the page writer reads the slot's chunks; until
	// then a full queue is all the fragment holds (awaitTurn), and turn,
	// made by the pump when it waits, is how the writer wakes it.
	writing atomic.Bool
	turn    atomic.Pointer[chan struct{}]

	started time.Time // when its fetch started; set before ready is closed

	// inline: the request was sent ahead (fetch.Presend) and the page's
	// own goroutine reads its answer (fetchInline, writeInline): no
	// goroutine and no queue for it. The fields below are the page
	// goroutine's.
	inline   bool
	sendCtx  context.Context // the request's context: the page's, with its span
	span     trace.Span      // started before the request was sent (its traceparent), or nil
	clk      *clock          // the fragment's deadline (&clockv), from fetchInline on
	clockv   clock           // the slot's clock, started once (fetchInline, or fetch)
	ctx      context.Context // clk's context
	waits    fetch.Waits     // what the wire is told: the page's wait hook, clk as the Ender
	resp     *fetch.Response // the answer whose body the writer reads
	finished bool            // finishInline ran
	// The fragment's own time: to its answer's first bytes (when they
	// came, not when the page read them), and the reads of its body that
	// waited. The metrics and the debug view report it.
	headTime, bodyTime time.Duration

	dbg *slotDebug // the debug view's figures; nil unless it is on
}

// scripts is what the guard does with the fragment's scripts: all
// inert, and those its answer's own Content-Security-Policy vouches for
// (or all, for an entry that trusts its scripts) made live by the
// activator (package inert). Only the answer's header is read: nothing
// is stored or fetched for it.
func (s *slot) scripts() *htmlguard.Scripts {
	v := s.scriptsValue()
	return &v
}

// scriptsValue is scripts as a value, for a writer that keeps it.
func (s *slot) scriptsValue() htmlguard.Scripts {
	return htmlguard.Scripts{Policy: inert.ParsePolicy(s.header.Values("Content-Security-Policy")), Trust: s.entry.TrustScripts}
}

// markReady closes ready once.
func (s *slot) markReady() {
	if !s.readyClosed {
		s.readyClosed = true
		if s.ready != nil {
			close(s.ready)
		}
	}
}

// closedReady is the ready of a slot never fetched (not registered, or the
// browser's to fill): ready from the start.
var closedReady = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

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
	c.logPanic(s, v)
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
	c.chunksMade.Add(1)
	b := make([]byte, c.chunkSize())
	return &b
}

// putChunk returns a chunk handed out by getChunk (re-sliced to any
// length): the same pointer, so that giving it back allocates nothing.
func (c *Composer) putChunk(bp *[]byte) {
	if cap(*bp) != c.chunkSize() {
		return
	}
	*bp = (*bp)[:cap(*bp)]
	c.pool.Put(bp)
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

// fetch runs one fragment request and feeds its body to the slot. Its
// frame stays on the fetching goroutine's stack while the answer is
// awaited (a thousand pages of five fragments are five thousand such
// goroutines): what only tracing or an async body needs is in functions
// of their own.
func (c *Composer) fetch(ctx context.Context, s *slot, req *fetch.Request) {
	if c.Observer != nil {
		defer c.observe(s, time.Now())
	}
	s.started = time.Now()
	// The deadline counts only the composer's waiting on the fragment
	// (clock.go): pump pauses it while the slot's queue is full.
	clk := &s.clockv
	ctx = clk.start(ctx, c.timeout(s), false)
	defer clk.stop()
	switch {
	case s.span != nil: // started by sendAhead (ctx is its context)
		defer endSpan(s.span, s)
	case c.Tracer != nil:
		var span trace.Span
		ctx, span = c.startSpan(ctx, s, req)
		defer endSpan(span, s)
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
		readWhole(ctx, s, resp.Body, limit)
		s.bodyEnded()
		return
	}
	s.bodyErr = deadlineErr(ctx, c.pump(ctx, clk, s, resp.Body, limit))
	s.bodyEnded()
	s.endChunks()
}

// observe tells the observer how the fragment's request went.
func (c *Composer) observe(s *slot, start time.Time) {
	c.Observer.Fragment(s.frag.ID, s.version, s.outcome(), time.Since(start))
}

// startSpan starts the fragment's span and sends its traceparent.
//
//go:noinline
func (c *Composer) startSpan(ctx context.Context, s *slot, req *fetch.Request) (context.Context, trace.Span) {
	ctx, span := c.Tracer.Start(ctx, "fragment "+s.frag.ID, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("fragment.id", s.frag.ID), attribute.String("fragment.version", s.version),
			attribute.Bool("fragment.required", s.frag.Required), attribute.String("fragment.transport", fetch.Kind(req.Endpoint, req.Loader))))
	// Its own traceparent: a copy of the Header the page's requests may
	// share.
	req.Header = req.Header.Clone()
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	return ctx, span
}

// endSpan ends the fragment's span with its outcome.
func endSpan(span trace.Span, s *slot) {
	outcome := s.outcome()
	span.SetAttributes(attribute.String("fragment.outcome", outcome), attribute.Int("http.response.status_code", s.status))
	if outcome != "ok" {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

// readWhole reads an async slot's body whole, up to limit.
func readWhole(ctx context.Context, s *slot, body io.Reader, limit int64) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	s.body, s.bodyErr = buf.Bytes(), deadlineErr(ctx, err)
	if err == nil && int64(buf.Len()) > limit {
		s.body, s.bodyErr = nil, errTooLarge
	}
}

// pump copies body to the slot's chunks until its end, the size limit or
// the page's end, and returns why it stopped early (nil at the end). While
// the queue is full, the fragment is not waited on: clk is paused.
func (c *Composer) pump(ctx context.Context, clk *clock, s *slot, body io.Reader, limit int64) error {
	var total int64
	for {
		if len(s.chunks) == cap(s.chunks) && !s.writing.Load() {
			if err := s.awaitTurn(ctx, clk); err != nil {
				return err
			}
		}
		bp := c.getChunk()
		n, err := body.Read(*bp)
		if n > 0 {
			total += int64(n)
			if total > limit {
				c.putChunk(bp)
				return errTooLarge
			}
			*bp = (*bp)[:n]
			select {
			case s.chunks <- bp:
			default:
				clk.pause()
				select {
				case s.chunks <- bp:
				case <-ctx.Done():
					c.putChunk(bp)
					return context.Cause(ctx)
				}
				clk.resume()
			}
		} else {
			c.putChunk(bp)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// awaitTurn waits, its queue full, until the page writer reaches the slot:
// a fragment not being written holds its queue's chunks and no more, the
// rest of its body waiting in its socket (the kernel's memory, not the
// process's). The wait is the composer's: clk is paused.
func (s *slot) awaitTurn(ctx context.Context, clk *clock) error {
	turn := s.turn.Load()
	if turn == nil {
		ch := make(chan struct{}, 1)
		turn = &ch
		s.turn.Store(turn)
	}
	// The writer sets writing, then looks for turn; the pump stores turn,
	// then looks at writing: one of the two sees the other's.
	if s.writing.Load() {
		return nil
	}
	clk.pause()
	defer clk.resume()
	select {
	case <-*turn:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// startWriting is the page writer reaching the slot: its pump reads on.
func (s *slot) startWriting() {
	s.writing.Store(true)
	if turn := s.turn.Load(); turn != nil {
		select {
		case *turn <- struct{}{}:
		default:
		}
	}
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
