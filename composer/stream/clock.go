package stream

import (
	"context"
	"errors"
	"time"
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
type clock struct {
	left    time.Duration // what is left, as of since
	since   time.Time     // when it last started running
	running bool
	timer   *time.Timer
	cancel  context.CancelCauseFunc
}

// startClock returns a context that ends with the cause
// context.DeadlineExceeded once d of running time has passed, or when
// parent ends. ctx.Err() is then context.Canceled: context.Cause tells a
// fragment's deadline (DeadlineExceeded) from a page gone (Canceled), as
// net/http does in the errors it returns.
func startClock(parent context.Context, d time.Duration) (context.Context, *clock) {
	ctx, cancel := context.WithCancelCause(parent)
	k := &clock{left: d, since: time.Now(), running: true, cancel: cancel}
	k.timer = time.AfterFunc(max(d, 0), k.expire)
	if d <= 0 {
		// Run out already: the context ends before anyone looks at it.
		k.timer.Stop()
		k.running, k.left = false, 0
		k.expire()
	}
	return ctx, k
}

func (k *clock) expire() { k.cancel(context.DeadlineExceeded) }

// pause stops the clock. A clock that ran out meanwhile stays run out.
func (k *clock) pause() {
	if !k.running {
		return
	}
	k.running = false
	if k.timer.Stop() {
		k.left -= time.Since(k.since)
	} else {
		k.left = 0
	}
}

// resume starts the clock again with what was left.
func (k *clock) resume() {
	if k.running || k.left <= 0 {
		return
	}
	k.running = true
	k.since = time.Now()
	k.timer.Reset(k.left)
}

// stop ends the clock and its context.
func (k *clock) stop() {
	k.timer.Stop()
	k.cancel(nil)
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
