package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/cow"
)

// Metrics are the composer's Prometheus series for pages and fragments. It
// implements stream.Observer.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	ttfb      *prometheus.HistogramVec
	fragments *prometheus.HistogramVec
	cache     *prometheus.CounterVec
	// Load shedding: pages being served, and pages refused beyond the cap.
	pagesInFlight prometheus.Gauge
	shed          prometheus.Counter
	// Compressed responses by how: br, gzip, gzip_light (past the
	// compressor budget), none (past it, for a client that takes only
	// brotli).
	compression *prometheus.CounterVec

	// The series each page and fragment adds to, found once: a page
	// records about a dozen figures, and a series found by its labels
	// costs a hash of them, a lock and an allocation each time. A series
	// is never deleted, so a pointer found stays good.
	// Read without a lock (package cow): every page reads them a dozen
	// times, on both cores.
	pageSeries   cow.Map[pageKey, *pageSeries]
	fragSeries   cow.Map[fragmentKey, prometheus.Observer]
	cacheResults cow.Map[string, prometheus.Counter]
}

type pageKey struct {
	route  string
	status int
}

type pageSeries struct {
	requests       prometheus.Counter
	duration, ttfb prometheus.Observer
}

type fragmentKey struct{ id, version, outcome string }

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "composer_page_requests_total",
			Help: "Requests by route pattern and status code.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "composer_page_duration_seconds", Help: "Time to the last byte of a response, by route pattern.", Buckets: buckets,
		}, []string{"route"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "composer_page_ttfb_seconds", Help: "Time to the first byte of a response, by route pattern.", Buckets: buckets,
		}, []string{"route"}),
		fragments: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "composer_fragment_duration_seconds", Help: "Fragment requests by id, canary version and outcome.", Buckets: buckets,
		}, []string{"fragment", "version", "outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "composer_fragment_cache_total",
			Help: "Fragment cache lookups by result: hit, miss, stale, stale_if_error, coalesced, bypass.",
		}, []string{"result"}),
		pagesInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "composer_pages_in_flight", Help: "Pages being composed and streamed now (COMPOSER_MAX_PAGES caps them).",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "composer_pages_shed_total", Help: "Pages answered 503 at once because COMPOSER_MAX_PAGES pages were in flight.",
		}),
		compression: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "composer_responses_compressed_total",
			Help: "Responses a client asked to compress, by how: br, gzip, gzip_light (past COMPOSER_COMPRESSOR_BYTES), none (past it, for a client that takes only brotli).",
		}, []string{"mode"}),
	}
	reg.MustRegister(m.requests, m.duration, m.ttfb, m.fragments, m.cache, m.pagesInFlight, m.shed, m.compression)
	return m
}

// compressed counts one response a client asked to compress.
func (m *Metrics) compressed(mode string) {
	m.compression.WithLabelValues(mode).Inc()
}

// CacheResult counts one fragment cache lookup.
func (m *Metrics) CacheResult(result string) {
	m.cacheResults.LoadOrMake(result, func() prometheus.Counter { return m.cache.WithLabelValues(result) }).Inc()
}

// Fragment implements stream.Observer.
func (m *Metrics) Fragment(id, version, outcome string, d time.Duration) {
	o := m.fragSeries.LoadOrMake(fragmentKey{id, version, outcome}, func() prometheus.Observer {
		return m.fragments.WithLabelValues(id, version, outcome)
	})
	o.Observe(d.Seconds())
}

// page records one finished request.
func (m *Metrics) page(r *http.Request, status int, start, firstByte time.Time) {
	route := "unmatched"
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		route = rc.RoutePattern()
	}
	p := m.pageSeries.LoadOrMake(pageKey{route, status}, func() *pageSeries {
		return &pageSeries{m.requests.WithLabelValues(route, strconv.Itoa(status)), m.duration.WithLabelValues(route), m.ttfb.WithLabelValues(route)}
	})
	p.requests.Inc()
	p.duration.Observe(time.Since(start).Seconds())
	if !firstByte.IsZero() {
		p.ttfb.Observe(firstByte.Sub(start).Seconds())
	}
}

// PoolMetrics registers the plain-http fragment connection pool's figures
// with reg, read from stats at each scrape.
func PoolMetrics(reg prometheus.Registerer, stats func() fetch.PoolStats) {
	for _, m := range []struct {
		name, help string
		counter    bool
		value      func(fetch.PoolStats) float64
	}{
		{"composer_fragment_connections_idle", "Plain-http fragment connections held idle in the pool.", false,
			func(s fetch.PoolStats) float64 { return float64(s.Idle) }},
		{"composer_fragment_connections_dialled_total", "Plain-http fragment connections dialled.", true,
			func(s fetch.PoolStats) float64 { return float64(s.Dialled) }},
		{"composer_fragment_connections_reused_total", "Fragment requests sent on a pooled plain-http connection.", true,
			func(s fetch.PoolStats) float64 { return float64(s.Reused) }},
		{"composer_fragment_connections_found_closed_total", "Pooled plain-http fragment connections found closed by their server (or unusable) when looked at, and closed.", true,
			func(s fetch.PoolStats) float64 { return float64(s.FoundClosed) }},
		{"composer_fragment_dials_waited_total", "Plain-http fragment dials that waited for one of the 64 dials in flight to their address to end.", true,
			func(s fetch.PoolStats) float64 { return float64(s.DialsWaited) }},
		{"composer_fragment_dials_late_total", "Plain-http fragment dials that waited for one of the 64 dials in flight to their address (100 ms with none ended, or 1 s), and then dialled on their own.", true,
			func(s fetch.PoolStats) float64 { return float64(s.DialsLate) }},
	} {
		read := func() float64 { return m.value(stats()) }
		if m.counter {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, read))
		} else {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.name, Help: m.help}, read))
		}
	}
}
