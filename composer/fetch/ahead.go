package fetch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Presend implements Presender: a plain-http request (wire's) leaves at
// once. On a kept connection the head is written on the caller's
// goroutine, without waiting (what the socket does not take at once is
// written by the Fetch); with none kept, or for a request with a
// visitor's own headers (a connection of its own, Connection: close), a
// goroutine dials and writes, and ends with them: the caller does not
// wait for the dial. Presend reports false, sending nothing, for what
// Fetch takes elsewhere (https, the Transport's endpoints), a host not on
// the allow-list, a head that cannot be built (Fetch reports each as
// usual), an ended context, and a request already sent ahead.
//
// A failure after that (the dial, the write) is the Fetch's to report; a
// request whose kept connection turns out dead before any byte of its
// answer is sent again by the Fetch on a new connection, once, as a
// request not sent ahead is.
func (h *HTTP) Presend(ctx context.Context, req *Request) bool {
	if req.sent != nil || ctx.Err() != nil {
		return false
	}
	t := h.target(req.Endpoint)
	if t == nil || !h.hostAllowed(t.hostname) {
		return false
	}
	s := h.plain.presend(ctx, &t.target, req, Personal(req.Header))
	if s == nil {
		return false
	}
	req.sent = s
	return true
}

// Presend implements Presender: it routes req as Fetch does, and only
// the HTTP transport sends ahead (Presend there decides); an override,
// a Lambda or a Step Functions request is not sent ahead.
func (m *Mux) Presend(ctx context.Context, req *Request) bool {
	if req.Override || m.HTTP == nil || Kind(req.Endpoint, req.Loader) != "url" {
		return false
	}
	return Presend(m.HTTP, ctx, req)
}

// Release gives up a request sent ahead that no Fetch has claimed: its
// connection is closed (a dial still running closes what it dials when it
// ends), and a Fetch of req afterwards sends it again the usual way.
// After a claim it does nothing: the connection is the Fetch's answer's.
// Release of a request not sent ahead does nothing. It may be called from
// any goroutine, any number of times.
func Release(req *Request) {
	if s := req.sent; s != nil && s.claim() {
		s.abandon()
	}
}

// Answered reports whether the answer to a request sent ahead has begun
// to arrive: the request is not claimed, its dial and write are done, and
// bytes (or the server's close, or an error) wait on its connection, so
// that its Fetch's first read will not wait. It looks at the socket
// without waiting and without taking a byte. False for a request not sent
// ahead, claimed or released, still dialling, or on a connection that
// cannot be looked at (a dialler's own type without a socket). One look
// at a time: a look while another runs reports false.
func Answered(req *Request) bool {
	s := req.sent
	if s == nil || !s.state.CompareAndSwap(aheadFree, aheadLooking) {
		return false
	}
	defer s.state.Store(aheadFree)
	s.mu.Lock()
	pc, done, failed := s.pc, s.done, s.err != nil || len(s.rest) > 0
	s.mu.Unlock()
	return done && !failed && pc != nil && pc.answered()
}

type waitHookKey struct{}

// WithWaitHook returns ctx with hook: the reads of the plain-http wire
// made for a Fetch with that context (the answer's head, and its body's
// reads) call hook just before they would wait for bytes that are not
// there yet, once a wait, on the reading goroutine. Bytes already there
// are read without a call. A Fetch not sent ahead also calls it once its
// request is written, before it waits for the answer. A non-nil error
// from hook fails that read (and every later one of that answer) with it:
// the connection is closed, as for a cut body, and the request is never
// sent again. On a dialler's own connection type, whose socket is not
// reachable, hook is called before every read.
//
// A page uses it to write out what it holds for the browser exactly when
// it is about to wait for a fragment.
func WithWaitHook(ctx context.Context, hook func() error) context.Context {
	return context.WithValue(ctx, waitHookKey{}, hook)
}

// An Ender stands in for context.AfterFunc on the context of a request,
// for a caller that knows first when that context ends (WithWaits).
type Ender interface {
	// AfterEnd arranges for f to run once the context has ended, at once
	// if it has, on any goroutine; f does not block. stop.Stop reports
	// whether it kept f from running: false once f has started, or after
	// an earlier Stop. This is context.AfterFunc's contract, except that
	// f need not run on a goroutine of its own, and that the stop is a
	// Stopper: an Ender that is its own Stopper costs no allocation a
	// registration.
	AfterEnd(f func()) (stop Stopper)
}

// A Stopper undoes a registration, as the function context.AfterFunc
// returns does.
type Stopper interface{ Stop() bool }

// StopFunc is a stop function as a Stopper.
type StopFunc func() bool

func (f StopFunc) Stop() bool { return f() }

// Waits is what the reader of a request's answer tells the wire
// (WithWaits). It is not changed once given.
type Waits struct {
	Hook func() error // as WithWaitHook's hook
	End  Ender        // for the context WithWaits returns, and no other

	parent context.Context // what WithWaits was given
}

// waitsCtx is the context WithWaits returns: the Waits itself, so that
// it costs no allocation (a page's fragment has one, in its slot). It is
// its parent, with the Waits as the value of waitHookKey.
type waitsCtx Waits

func (c *waitsCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *waitsCtx) Done() <-chan struct{}       { return c.parent.Done() }
func (c *waitsCtx) Err() error                  { return c.parent.Err() }

func (c *waitsCtx) Value(key any) any {
	if key == (waitHookKey{}) {
		return (*Waits)(c)
	}
	return c.parent.Value(key)
}

// WithWaits is WithWaitHook with w.Hook, and w.End standing in for
// context.AfterFunc on the context it returns: the wire then registers
// nothing on that context. A page reads its fragments on its own
// goroutine and knows when each one's deadline ends; a registration on
// the context would be a child context, a map of children and a channel
// for each answer, held while the page waits for it. A Fetch whose
// context was derived from the returned one (a layer's own cancellation)
// uses context.AfterFunc on it, as without w.End. The context returned is
// w itself (w must not be copied or given again while it is in use): it
// costs no allocation.
func WithWaits(ctx context.Context, w *Waits) context.Context {
	w.parent = ctx
	return (*waitsCtx)(w)
}

func waitHook(ctx context.Context) func() error {
	hook, _ := waits(ctx)
	return hook
}

// waits returns ctx's hook (WithWaitHook or WithWaits) and its Ender, if
// it has one for ctx itself.
func waits(ctx context.Context) (func() error, Ender) {
	switch v := ctx.Value(waitHookKey{}).(type) {
	case func() error:
		return v, nil
	case *Waits:
		if c, ok := ctx.(*waitsCtx); !ok || (*Waits)(c) != v {
			return v.Hook, nil // a context derived from it
		}
		return v.Hook, v.End
	}
	return nil, nil
}

// afterEnd is context.AfterFunc(ctx, f), or end's stand-in for it.
func afterEnd(ctx context.Context, end Ender, f func()) Stopper {
	if end != nil {
		return end.AfterEnd(f)
	}
	return StopFunc(context.AfterFunc(ctx, f))
}

// A request sent ahead's states: free (sent, not claimed), claimed (by
// a Fetch or Release; for good), and looked at (Answered, for a moment).
const (
	aheadFree int32 = iota
	aheadClaimed
	aheadLooking
)

// sentAhead is a request sent by Presend, until a Fetch claims it or
// Release closes it. It holds no read buffer: the Fetch takes one.
type sentAhead struct {
	state  atomic.Int32
	reused bool          // on a kept connection: sent again on a new one if it turns out dead
	ready  chan struct{} // closed once the dial and the write are over; nil for a kept connection

	// Set by Presend on a kept connection; by the dial's goroutine
	// otherwise, under mu (pc once dialled, the rest once written).
	mu      sync.Mutex
	pc      *wireConn
	rest    []byte // what the socket did not take at once: the Fetch writes it
	err     error  // the dial's or the write's
	done    bool
	dropped bool // claimed and given up: the dial's goroutine closes what it dials
}

// claim takes s for a Fetch or a Release; false if it was taken before.
func (s *sentAhead) claim() bool {
	for {
		switch s.state.Load() {
		case aheadFree:
			if s.state.CompareAndSwap(aheadFree, aheadClaimed) {
				return true
			}
		case aheadClaimed:
			return false
		default:
			runtime.Gosched() // Answered's look: a system call
		}
	}
}

// abandon closes s's connection, now or when its dial ends; s is claimed.
func (s *sentAhead) abandon() {
	s.mu.Lock()
	s.dropped = true
	pc := s.pc
	s.pc = nil
	s.mu.Unlock()
	if pc != nil {
		pc.c.Close() // ends a write still running on the dial's goroutine
	}
}

// presend builds the head and sends it ahead; nil if it cannot be built.
func (w *wire) presend(ctx context.Context, t *target, req *Request, personal bool) *sentAhead {
	hp := heads.Get().(*[]byte)
	head, err := appendHead((*hp)[:0], t, req, personal)
	*hp = head
	if err != nil {
		putHead(hp)
		return nil
	}
	s := &sentAhead{}
	if !personal {
		if pc := w.get(t.addr); pc != nil {
			s.pc, s.reused, s.done = pc, true, true
			pc.enableStamps()
			rest, err := pc.writeAhead(head)
			if err != nil {
				s.err = err
			} else if len(rest) > 0 {
				s.rest = append([]byte(nil), rest...)
			}
			putHead(hp)
			return s
		}
	}
	// A dial may wait its turn (goDial), and a burst's heads would all go
	// back to the pool together, to be kept through the next collection:
	// the dial holds the head's own bytes (a few hundred), not the buffer.
	head = append([]byte(nil), head...)
	putHead(hp)
	s.ready = make(chan struct{})
	w.goDial(t.addr, func() { w.dialAhead(ctx, s, t.addr, head) })
	return s
}

// dialAhead dials addr and writes the head for s, on a goroutine other
// than the page's (goDial; as connect's: the dial's deep stack is not
// kept).
func (w *wire) dialAhead(ctx context.Context, s *sentAhead, addr string, head []byte) {
	defer close(s.ready)
	c, err := w.dial(ctx, "tcp", addr)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		s.mu.Lock()
		s.err, s.done = err, true
		s.mu.Unlock()
		return
	}
	w.dialled.Add(1)
	pc := newWireConn(c, addr)
	s.mu.Lock()
	dropped := s.dropped
	if !dropped {
		s.pc = pc
	}
	s.mu.Unlock()
	if dropped {
		c.Close()
		s.mu.Lock()
		s.done = true
		s.mu.Unlock()
		return
	}
	pc.enableStamps()
	_, err = c.Write(head)
	s.mu.Lock()
	s.err, s.done = err, true
	s.mu.Unlock()
}

// fetchAhead reads the answer to s, claimed by this Fetch. again: the
// request is to be sent again on a new connection (its kept one was dead
// before any byte of an answer).
func (w *wire) fetchAhead(ctx context.Context, s *sentAhead, personal bool) (resp *Response, again bool, err error) {
	if s.ready != nil {
		select {
		case <-s.ready:
		default:
			// The dial is a wait too: the hook first (a page flushes
			// what it wrote, its status line included).
			if hook := waitHook(ctx); hook != nil {
				if err := hook(); err != nil {
					s.abandon()
					return nil, false, err
				}
			}
			select {
			case <-s.ready:
			case <-ctx.Done():
				s.abandon()
				return nil, false, context.Cause(ctx)
			}
		}
	}
	// The dial's goroutine is over: s is this Fetch's alone.
	pc := s.pc
	if s.err != nil {
		if pc != nil {
			pc.c.Close()
		}
		return nil, s.reused && ctx.Err() == nil, s.err
	}
	resp, err = w.exchange(ctx, pc, s.rest, true, personal)
	if r, ok := err.(errRetry); ok {
		return nil, s.reused && ctx.Err() == nil, r.err
	}
	return resp, false, err
}

// presendEveryFetch makes every Fetch of a plain-http request not sent
// ahead send it ahead first (Presend, then Answered's look, then the
// claim): the conformance suite's second run, in a test binary's child
// (conformance_ahead_test.go). Never set otherwise.
var presendEveryFetch bool

// sentAheadInFetch counts the requests presendEveryFetch sent ahead.
var sentAheadInFetch atomic.Int64
