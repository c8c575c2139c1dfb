// Package server is the composer's HTTP surface: page routes from the
// current template set, health and readiness, and the middleware that
// gives every request an id and one log line.
//
// Data flow:
//
//	request --> middleware (id, log, recover) --> current router (rebuilt per template set)
//	        --> page handler --> stream.Composer.Serve
package server

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// Readiness reports whether a dependency is loaded.
type Readiness interface {
	Loaded() bool
}

// Options are what a Server is built from.
type Options struct {
	Log      *slog.Logger
	Composer *stream.Composer
	// Registry tells readiness. Until it and the templates are loaded,
	// every page answers 503 (see RetryAfter).
	Registry Readiness
	// Mounts are extra handlers by chi pattern (the demo's static files and
	// APIs, proxies), served beside the pages.
	Mounts map[string]http.Handler
	// CSP is the pages' Content-Security-Policy; "{hashes}" in it becomes
	// the hashes that allow the composer's inline scripts
	// (stream.ScriptHashes). Pages carry no nonce: a page a CDN keeps is
	// the same for every visitor. Empty: no CSP header.
	CSP string
	// ReferrerPolicy for every response; empty means
	// "strict-origin-when-cross-origin".
	ReferrerPolicy string
	// Metrics, if set, records every request.
	Metrics *Metrics
	// Tracer, if set, makes a server span for every request, continuing
	// the caller's traceparent.
	Tracer trace.Tracer
	// WriteTimeout, if set, is the deadline of every write of a response,
	// each its own: a client that takes longer to accept one is dropped
	// (and its page's fragment requests cancelled). Zero: no deadline.
	// While MaxPages pages are in flight, a write may wait only
	// StalledWriteTimeout (deadline.go).
	WriteTimeout time.Duration
	// RetryAfter is what a 503 page before the first load asks a client
	// to wait (Retry-After, in whole seconds); zero means 5 s.
	RetryAfter time.Duration
	// MaxPages caps the pages in flight (load shedding): a page beyond it
	// gets 503 with Retry-After: 1 at once, before any fragment is asked.
	// Health, readiness and mounts are never shed. Zero: no cap.
	MaxPages int
	// Notices, if set, gives lines that /readyz adds after "ready": what
	// the operators should know although the server is ready (a source
	// refused a change). /readyz is public: no file names or endpoints.
	Notices func() []string
	// OverrideKey, if set (at least override.MinKeyLen bytes), turns on
	// signed per-request overrides: a request whose Mfe-Override header
	// or mfe-override cookie holds a token signed with it, and not
	// expired, carries the token in its context (override.FromContext).
	// Any other token is ignored without a word to the visitor.
	OverrideKey []byte
	// CompressorBytes is the memory the pages' compressors may hold at
	// once (compress.go): a page past it is compressed with light gzip, or
	// not at all for a client that takes only brotli. Zero:
	// DefaultCompressorBytes; negative: none (every page light).
	CompressorBytes int64
}

// Server serves pages. Build it with New; it is safe for concurrent use.
type Server struct {
	log      *slog.Logger
	composer *stream.Composer
	registry Readiness
	mounts   map[string]http.Handler
	csp      string
	referrer string
	// The values of the two headers above, shared by every response
	// (nosniffValue).
	referrerValue, cspValue []string
	metrics                 *Metrics
	tracer                  trace.Tracer
	retry                   string // Retry-After of the 503 pages before the first load
	notices                 func() []string
	maxPages                int64
	override                []byte       // nil: overrides off
	inFlight                atomic.Int64 // pages being served
	writes                  *deadlines   // the write deadlines, shortened at the cap

	islandsOff sync.Once // the start-up line about client slots without keys

	set    atomic.Pointer[template.Set]
	router atomic.Pointer[http.Handler]
	root   http.Handler
}

// New returns a server built from o.
func New(o Options) *Server {
	s := &Server{log: o.Log, composer: o.Composer, registry: o.Registry, mounts: o.Mounts, csp: o.CSP, referrer: o.ReferrerPolicy, metrics: o.Metrics, tracer: o.Tracer, notices: o.Notices, maxPages: int64(o.MaxPages), override: o.OverrideKey}
	s.retry = "5"
	if o.RetryAfter > 0 {
		s.retry = strconv.Itoa(int((o.RetryAfter + time.Second - 1) / time.Second))
	}
	if s.referrer == "" {
		s.referrer = "strict-origin-when-cross-origin"
	}
	s.csp = strings.ReplaceAll(s.csp, "{hashes}", stream.ScriptHashes)
	s.referrerValue, s.cspValue = []string{s.referrer}, []string{s.csp}
	s.publishRouter(nil)
	s.writes = &deadlines{d: o.WriteTimeout, writers: map[*deadlineWriter]struct{}{}}
	if s.maxPages > 0 {
		s.writes.atCap = func() bool { return s.inFlight.Load() >= s.maxPages }
	}
	budget := &compressorBudget{limit: o.CompressorBytes}
	if o.CompressorBytes == 0 {
		budget.limit = DefaultCompressorBytes
	}
	var counted func(string)
	if s.metrics != nil {
		counted = s.metrics.compressed
	}
	s.root = chain(&dispatcher{s}, s.writes.middleware, requestID, s.overrides, s.securityHeaders, s.logRequests, s.recoverPanics, compress(budget, counted))
	return s
}

// SetTemplates publishes a template set: requests that start after it
// returns use it; pages in flight finish with the set they started with.
func (s *Server) SetTemplates(set *template.Set) {
	s.noIslandKeys(set)
	s.set.Store(set)
	s.publishRouter(set)
}

// Templates returns the current set, or nil before the first is loaded.
func (s *Server) Templates() *template.Set { return s.set.Load() }

// noIslandKeys says once, when a set with client slots is loaded and no
// island key is set, that those slots show their fallback.
func (s *Server) noIslandKeys(set *template.Set) {
	if set == nil || s.log == nil || s.composer == nil || s.composer.Islands != nil {
		return
	}
	for _, t := range set.Templates {
		for _, f := range t.Slots {
			if f.Client || f.ClientFallback {
				s.islandsOff.Do(func() {
					s.log.Warn("COMPOSER_ISLAND_KEYS is not set: client and client-fallback slots show their fallback", "template", t.Name, "fragment", f.ID)
				})
				return
			}
		}
	}
}

func (s *Server) publishRouter(set *template.Set) {
	h := s.routes(set)
	s.router.Store(&h)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.root.ServeHTTP(w, r)
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	(*s.router.Load()).ServeHTTP(w, r)
}

// dispatcher is dispatch as a Handler without a HandlerFunc's frame (see
// requestID).
type dispatcher struct{ s *Server }

func (d *dispatcher) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.s.dispatch(w, r) }

// chain wraps h in middleware, the first outermost.
func chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}
