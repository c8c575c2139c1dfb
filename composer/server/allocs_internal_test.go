package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
