package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/ssr-mfe/composer/composer/internal/flush"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the request's id, set by the server's middleware.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// requestID takes a sane X-Request-Id from the client (a CDN or load
// balancer sets one) or makes one, and echoes it in the response (a page
// a shared cache may keep drops it again: see stream's pageWriter.start).
//
// Each middleware here is a type with its own ServeHTTP, not an
// http.HandlerFunc: a HandlerFunc is one frame more on the stack of every
// page, under which the page waits for its fragments (the root package's
// TestAPageFitsAStackOf8KiB).
func requestID(next http.Handler) http.Handler { return &requestIDHandler{next} }

type requestIDHandler struct{ next http.Handler }

func (h *requestIDHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.next.ServeHTTP(w, withRequestID(w, r))
}

// withRequestID is requestID's work, in a frame of its own that is gone
// before the handlers below run (see logRequests).
//
//go:noinline
func withRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	return r.WithContext(&requestCtx{Context: r.Context(), id: id})
}

// requestCtx is a request's context below requestID: its parent, with the
// request's id and chi's route context (which chi fills in, and
// logRequests reads after the handler), in one allocation where two
// contexts, the route context and a second copy of the request were made.
type requestCtx struct {
	context.Context
	id    string
	route chi.Context
}

func (c *requestCtx) Value(key any) any {
	switch key {
	case requestIDKey:
		return c.id
	case chi.RouteCtxKey:
		return &c.route
	}
	return c.Context.Value(key)
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// MaxURILength is the longest request target served; a longer one gets 414.
// Pages' query strings go to every fragment, so they are kept to what a CDN
// would pass anyway.
const MaxURILength = 8 << 10

// nosniffValue, Server.referrerValue and Server.cspValue are header
// values shared by every response: a header's values are never changed
// in place (net/http and our handlers set or add, which make new ones),
// so a response's fixed headers cost no allocation.
var nosniffValue = []string{"nosniff"}

// securityHeaders sets the headers every response carries, and refuses
// request targets longer than MaxURILength.
func (s *Server) securityHeaders(next http.Handler) http.Handler { return &securityHandler{s, next} }

type securityHandler struct {
	s    *Server
	next http.Handler
}

func (sh *securityHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["X-Content-Type-Options"] = nosniffValue
	h["Referrer-Policy"] = sh.s.referrerValue
	if len(r.RequestURI) > MaxURILength {
		h.Set("Cache-Control", "no-store")
		http.Error(w, "URI Too Long", http.StatusRequestURITooLong)
		return
	}
	sh.next.ServeHTTP(w, r)
}

// pageCSP sets the Content-Security-Policy of an HTML response: the same
// for every page, so that a page a CDN keeps is right for every visitor
// ({hashes} was replaced once, in New).
func (s *Server) pageCSP(w http.ResponseWriter) {
	if s.csp != "" {
		w.Header()["Content-Security-Policy"] = s.cspValue
	}
}

// statusWriter records what a handler wrote. Unwrap lets
// http.ResponseController reach the connection's Flush.
type statusWriter struct {
	http.ResponseWriter
	status    int
	bytes     int64
	firstByte time.Time // when the first body byte was written
	failed    bool      // a write or flush failed: the client is gone (or too slow)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.firstByte.IsZero() {
		w.firstByte = time.Now()
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	if err != nil {
		w.failed = true
	}
	return n, err
}

func (w *statusWriter) Flush() {
	if err := flush.Flush(w.ResponseWriter); err != nil && !errors.Is(err, http.ErrNotSupported) {
		w.failed = true
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one line per request when it ends, aborted ones too.
//
// Its work is in methods of its record, not in the handler: a page's
// goroutine waits for fragments beneath this frame, and what a frame
// holds there is stack every waiting page keeps (TestAPageFitsAStackOf8KiB).
func (s *Server) logRequests(next http.Handler) http.Handler { return &logHandler{s, next} }

type logHandler struct {
	s    *Server
	next http.Handler
}

func (h *logHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := h.s.beginRequest(w, r)
	defer rec.end()
	h.next.ServeHTTP(&rec.statusWriter, rec.r)
	rec.aborted = false
}

// requestRecord is what logRequests knows of a request: what was written
// (its statusWriter, which the handlers below get), when it began, its
// span.
type requestRecord struct {
	statusWriter
	s       *Server
	r       *http.Request
	start   time.Time
	span    trace.Span
	aborted bool
}

//go:noinline
func (s *Server) beginRequest(w http.ResponseWriter, r *http.Request) *requestRecord {
	rec := &requestRecord{statusWriter: statusWriter{ResponseWriter: w}, s: s, start: time.Now(), aborted: true}
	// The route context is made before chi, so that chi fills in this one
	// and the route pattern can be read after the handler: requestID's
	// context has one.
	if chi.RouteContext(r.Context()) == nil {
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, chi.NewRouteContext()))
	}
	if s.tracer != nil {
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, rec.span = s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
				attribute.String("request.id", RequestID(r.Context()))))
		r = r.WithContext(ctx)
	}
	rec.r = r
	return rec
}

// end records the request once it ended: its metrics, its span, its line.
func (rec *requestRecord) end() {
	s, r, sw, span := rec.s, rec.r, &rec.statusWriter, rec.span
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	if s.metrics != nil {
		s.metrics.page(r, status, rec.start, sw.firstByte)
	}
	if span != nil {
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route != "" {
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 || rec.aborted {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
	// Levels: a 5xx answer (a required fragment failed, nothing
	// loaded yet, shedding) or an aborted one, warn; the probes,
	// debug; the rest, info. A client that went away before the
	// end is said so (client_gone), whatever the status; an abort it
	// caused (a page cut as its visitor left) is information, as any
	// page a visitor leaves.
	level := slog.LevelInfo
	msg := "request"
	gone := sw.failed || r.Context().Err() != nil
	if rec.aborted {
		msg = "request aborted"
		if !gone {
			level = slog.LevelWarn
		}
	}
	if status >= 500 {
		level = slog.LevelWarn
	}
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("request_id", RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", sw.bytes),
		slog.Float64("duration_ms", float64(time.Since(rec.start).Microseconds())/1000),
	}
	if gone {
		attrs = append(attrs, slog.Bool("client_gone", true))
	}
	s.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// recoverPanics turns a handler's panic into a 500 (when nothing was sent
// yet) and a log line with the stack. http.ErrAbortHandler passes through:
// it is how a page that cannot finish is cut off on purpose.
func (s *Server) recoverPanics(next http.Handler) http.Handler { return &recoverHandler{s, next} }

type recoverHandler struct {
	s    *Server
	next http.Handler
}

func (h *recoverHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(v)
		}
		h.s.log.Error("panic serving request",
			slog.String("request_id", RequestID(r.Context())),
			slog.Any("panic", v),
			slog.String("stack", string(debug.Stack())))
		if sw, ok := w.(*statusWriter); ok && sw.status == 0 {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		panic(http.ErrAbortHandler)
	}()
	h.next.ServeHTTP(w, r)
}
