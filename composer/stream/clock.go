package stream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// clock is a fragment's deadline that runs only while the composer waits
// on the fragment: from the start of the request to its answer's headers,
// and then while a read of its body is waiting for bytes. It stops while
// the body is not being read because the composer is busy elsewhere: the
// slot's queue is full because the page writer is blocked on a slow
// visitor's socket, or is still writing an earlier slot. So the breaker,
// the outcome and the cut judge the fragment, never the composer's own
// waiting (docs/resilience.md, "What counts").
//
// Only the fetching goroutine calls pause and resume.
//
// A clock is also the Ender of its context (fetch.Waits): the wire gives
// it the cut of its read instead of registering on the context, and the
// clock runs that cut when it ends, whichever way it ends.
//
// A lazy clock (an inline fetch's, read by its page's goroutine) arms its
// timer only when a read is about to wait (arm, from the page's wait
// hook): an answer already in its socket, the usual case, costs no timer
// at all. Its pause counts the time, and ends the clock if it ran out
// meanwhile, as the timer would have.
type clock struct {
	left    time.Duration // what is left, as of since
	since   time.Time     // when it last started running
	running bool
	lazy    bool        // the timer is armed by arm only
	armed   bool        // the timer is set for this run
	timer   *time.Timer // nil until first armed
	cancel  context.CancelCauseFunc
	ctx     context.Context

	mu    sync.Mutex
	ended bool   // end ran
	onEnd func() // AfterEnd's f, until it runs or is stopped
	// The clock is every registration's Stopper: the wire stops a
	// registration once at most, and before it makes the next.
}

// start starts the clock: it returns a context that ends with the cause
// context.DeadlineExceeded once d of running time has passed, or when
// parent ends. ctx.Err() is then context.Canceled: context.Cause tells a
// fragment's deadline (DeadlineExceeded) from a page gone (Canceled), as
// net/http does in the errors it returns.
//
// k is a slot's own (slot.clockv): a clock a fragment is part of the
// page's one allocation of its slots. It is started once. A lazy one
// runs without a timer until arm.
func (k *clock) start(parent context.Context, d time.Duration, lazy bool) context.Context {
	return k.startAt(parent, d, lazy, time.Now())
}

// startAt is start with the time now, read by the caller.
func (k *clock) startAt(parent context.Context, d time.Duration, lazy bool, now time.Time) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	k.left, k.since, k.running, k.lazy, k.cancel, k.ctx = d, now, true, lazy, cancel, ctx
	if d <= 0 {
		// Run out already: the context ends before anyone looks at it.
		k.running, k.left = false, 0
		k.expire()
		return ctx
	}
	if !lazy {
		k.timer, k.armed = time.AfterFunc(d, k.expire), true
	}
	return ctx
}

// arm sets a running lazy clock's timer for what is left, before a read
// waits; one that ran out already ends now. Only the fetching goroutine
// calls it.
func (k *clock) arm() {
	if !k.running || k.armed {
		return
	}
	left := k.left - time.Since(k.since)
	if left <= 0 {
		k.running, k.left = false, 0
		k.expire()
		return
	}
	if k.timer == nil {
		k.timer = time.AfterFunc(left, k.expire)
	} else {
		k.timer.Reset(left)
	}
	k.armed = true
}

func (k *clock) expire() { k.end(context.DeadlineExceeded) }

// end ends the clock's context with cause, then runs what AfterEnd was
// given, if it is still there: the context has ended before the read it
// cuts fails, so that the read's error says why.
func (k *clock) end(cause error) {
	k.cancel(cause)
	k.mu.Lock()
	f := k.onEnd
	k.onEnd, k.ended = nil, true
	k.mu.Unlock()
	if f != nil {
		f()
	}
}

// AfterEnd implements fetch.Ender for the clock's context: f runs when
// the clock ends (its deadline, its stop) or its parent does. The
// parent's end reaches the clock through its page (pageWriter.endInline);
// one that has reached the context first is seen here.
func (k *clock) AfterEnd(f func()) fetch.Stopper {
	k.mu.Lock()
	if k.ended || k.ctx.Err() != nil {
		k.mu.Unlock()
		f()
		return fetch.StopFunc(endedAlready)
	}
	if k.onEnd != nil {
		// A second read at once (not a page's): the context's own way.
		k.mu.Unlock()
		return fetch.StopFunc(context.AfterFunc(k.ctx, f))
	}
	k.onEnd = f
	k.mu.Unlock()
	return k
}

// Stop is the Stopper of the registration AfterEnd made: f will not run.
func (k *clock) Stop() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	stopped := k.onEnd != nil
	k.onEnd = nil
	return stopped
}

func endedAlready() bool { return false }

// pause stops the clock. A clock that ran out meanwhile stays run out;
// a lazy one not armed ends now.
func (k *clock) pause() { k.pauseAt(time.Now()) }

// pauseAt is pause with the time now, read by the caller (a page's read
// times its fragment with the same reading).
func (k *clock) pauseAt(now time.Time) {
	if !k.running {
		return
	}
	k.running = false
	if !k.armed {
		if k.left -= now.Sub(k.since); k.left <= 0 {
			k.left = 0
			k.expire()
		}
		return
	}
	k.armed = false
	if k.timer.Stop() {
		k.left -= now.Sub(k.since)
	} else {
		k.left = 0
	}
}

// resume starts the clock again with what was left (a lazy one's timer
// waits for arm).
func (k *clock) resume() { k.resumeAt(time.Now()) }

// resumeAt is resume with the time now, read by the caller.
func (k *clock) resumeAt(now time.Time) {
	if k.running || k.left <= 0 {
		return
	}
	k.running = true
	k.since = now
	if !k.lazy {
		k.timer.Reset(k.left)
		k.armed = true
	}
}

// stop ends the clock and its context.
func (k *clock) stop() {
	if k.timer != nil {
		k.timer.Stop()
	}
	k.end(context.Canceled)
}

// deadlineErr reports an error that ctx's clock ending caused as
// context.DeadlineExceeded: a transport that returns ctx.Err() says
// context.Canceled, which would read as the page gone.
func deadlineErr(ctx context.Context, err error) error {
	if err != nil && errors.Is(err, context.Canceled) && context.Cause(ctx) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}
