package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

// deadlineRecorder is a ResponseWriter that sets its own write deadline,
// as net/http's does.
type deadlineRecorder struct {
	h   http.Header
	set int
}

func (w *deadlineRecorder) Header() http.Header              { return w.h }
func (w *deadlineRecorder) Write(p []byte) (int, error)      { return len(p), nil }
func (w *deadlineRecorder) WriteHeader(int)                  {}
func (w *deadlineRecorder) SetWriteDeadline(time.Time) error { w.set++; return nil }

// Every response passes the write deadlines' middleware: over a writer
// that sets its own deadline (net/http's), it costs the one writer it
// wraps the response in, and no http.ResponseController.
func TestTheDeadlinesCostOneAllocationAResponse(t *testing.T) {
	dl := &deadlines{d: time.Minute}
	h := dl.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	w := &deadlineRecorder{h: http.Header{}}
	r := httptest.NewRequest("GET", "/", nil)
	if allocs := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); allocs > 1 {
		t.Errorf("%v allocations a response, want 1", allocs)
	}
	if w.set == 0 {
		t.Error("no write deadline was set")
	}
}

// Accept-Encoding is read for every page: the reading costs no
// allocation, with the header or without.
func TestNegotiatingCostsNoAllocation(t *testing.T) {
	for _, accept := range []string{"", "gzip, deflate, br, zstd", "br;q=0.5, gzip;q=1, *;q=0"} {
		if allocs := testing.AllocsPerRun(100, func() { negotiate(accept) }); allocs != 0 {
			t.Errorf("%q: %v allocations, want none", accept, allocs)
		}
	}
}

// Every page passes requestID and logRequests: the request's id and the
// route context chi fills in are one context and one copy of the request
// (with the id's header value and the request's record, 4 allocations),
// where two contexts, the route context and two copies of the request
// were made (7).
func TestARequestsIDAndRouteAreOneContext(t *testing.T) {
	s := &Server{}
	w := &deadlineRecorder{h: http.Header{}}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-Id", "from-the-cdn")
	var rec *requestRecord
	allocs := testing.AllocsPerRun(100, func() { rec = s.beginRequest(w, withRequestID(w, r)) })
	if allocs > 4 {
		t.Errorf("%v allocations, want at most 4", allocs)
	}
	if got := RequestID(rec.r.Context()); got != "from-the-cdn" {
		t.Errorf("request id %q", got)
	}
	if chi.RouteContext(rec.r.Context()) == nil {
		t.Error("no route context for chi to fill in")
	}
}
