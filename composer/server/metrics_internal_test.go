package server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A page records about a dozen figures: once a series has been used, each
// costs no allocation (no label hashing and lookup each time), and the
// figures land in the series their labels name.
func TestAPagesFiguresCostNoAllocation(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	rc := chi.NewRouteContext()
	rc.RoutePatterns = []string{"/product/{id}"}
	r := httptest.NewRequest("GET", "/product/1", nil)
	r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rc))
	start := time.Now()
	record := func() {
		m.page(r, 200, start, start.Add(time.Millisecond))
		m.Fragment("reviews", "v2", "ok", time.Millisecond)
		m.CacheResult("miss")
	}
	record()
	if allocs := testing.AllocsPerRun(100, record); allocs != 0 {
		t.Errorf("%v allocations a page's figures, want none", allocs)
	}
	// AllocsPerRun runs it once more than it counts.
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/product/{id}", "200")); got != 102 {
		t.Errorf("requests counted %v, want 102", got)
	}
	if got := testutil.ToFloat64(m.cache.WithLabelValues("miss")); got != 102 {
		t.Errorf("cache results counted %v, want 102", got)
	}
	if n := testutil.CollectAndCount(m.fragments); n != 1 {
		t.Errorf("%d fragment series, want 1", n)
	}
	if n := testutil.CollectAndCount(m.ttfb); n != 1 {
		t.Errorf("%d ttfb series, want 1", n)
	}
}

// A fragment's figure reads its series without a lock: it never waits
// for a series being made for another (a new fragment, route or status),
// and the two cores never pass a shared lock's count between them on
// every figure.
func TestAFigureWaitsForNoSeriesBeingMade(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.Fragment("a", "", "ok", time.Millisecond)
	release := m.fragSeries.Hold() // as while another fragment's series is made
	defer release()
	done := make(chan struct{})
	go func() {
		m.Fragment("a", "", "ok", time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a bound, not a claim
		t.Fatal("a figure waited for a series being made")
	}
}
