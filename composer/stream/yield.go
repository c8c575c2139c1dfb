package stream

import "runtime"

// The head's reader and the composer share a core.
//
// An early page writes its head, then its fragment requests. Linux wakes
// the reader of a socket (a proxy beside the composer in its task, a load
// balancer's agent, a client on the same host) on the core of the thread
// that wrote to it, expecting the writer to sleep soon; but the page's
// goroutine goes on, writing five requests and reading the first answer,
// and the reader waits for it to leave the core: tens of microseconds
// added to the head's way, on a page whose head was meant to leave first.
// So, while the process is not busy, the page gives up its core once
// between the two: the reader takes the head, then the requests leave.
// Under load (YieldBelow pages in flight or more) the core's time goes to
// pages, and nothing is yielded. docs/performance.md, "Where the first
// byte waits: the reader shares the core".

// yieldCore gives up the calling thread's core once (sched_yield); a
// variable for the tests.
var yieldCore = osYield

// yieldBelow is c.YieldBelow, or its default.
func (c *Composer) yieldBelow() int64 {
	switch {
	case c.YieldBelow > 0:
		return int64(c.YieldBelow)
	case c.YieldBelow < 0:
		return 0
	}
	return 4 * int64(runtime.GOMAXPROCS(0))
}

// yieldToReader gives up the core once, between an early page's head and
// its fragment requests, if the process was not busy when the page began
// (pw.yield) and there is a request to send. Not inlined: what serve's
// frame holds, every waiting page keeps (TestAPageFitsAStackOf8KiB).
//
//go:noinline
func (pw *pageWriter) yieldToReader() {
	if !pw.yield {
		return
	}
	for i := range pw.slots {
		if pw.slots[i].req != nil {
			yieldCore()
			return
		}
	}
}
