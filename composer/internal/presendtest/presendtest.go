// Package presendtest is what the layers' tests of fetch.Presender share:
// the bottom of a chain under test that records the requests it is asked
// to send ahead, and a transport that cannot send ahead.
package presendtest

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// Recorder is a real transport whose Presend records the requests it is
// given and answers Answer. It sends nothing itself: the Fetch that
// follows goes to the fragment server as usual.
type Recorder struct {
	fetch.Transport
	Answer atomic.Bool

	mu  sync.Mutex
	got []*fetch.Request
}

// New is a Recorder over t that answers answer.
func New(t fetch.Transport, answer bool) *Recorder {
	r := &Recorder{Transport: t}
	r.Answer.Store(answer)
	return r
}

// Presend implements fetch.Presender.
func (r *Recorder) Presend(_ context.Context, req *fetch.Request) bool {
	r.mu.Lock()
	r.got = append(r.got, req)
	r.mu.Unlock()
	return r.Answer.Load()
}

// Calls is how many requests Presend was given.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Plain hides every method of its transport but Fetch: a transport that
// cannot send ahead.
type Plain struct{ fetch.Transport }
