package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/ssr-mfe/composer/composer/island"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// routes is the whole HTTP surface for one template set (nil before the
// first set is loaded).
func (s *Server) routes(set *template.Set) http.Handler {
	r := chi.NewRouter()
	// The probes answer HEAD too (monitors use it), so every 405 can say
	// "Allow: GET, HEAD".
	r.Get("/healthz", handleHealthz())
	r.Head("/healthz", handleHealthz())
	r.Get("/readyz", s.handleReadyz())
	r.Head("/readyz", s.handleReadyz())
	if len(s.override) > 0 {
		h := s.overridePage()
		r.Get(OverridesPath, h.ServeHTTP)
		r.Head(OverridesPath, h.ServeHTTP)
		r.Post(OverridesPath, h.ServeHTTP)
	}
	island := s.handleIsland(set)
	r.Get(islandPath, island)
	r.Head(islandPath, island)
	for pattern, h := range s.mounts {
		r.Handle(pattern, h)
	}
	if set != nil {
		for _, route := range set.Routes {
			h := s.handlePage(set, route.Template)
			r.Get(route.Pattern, h)
			r.Head(route.Pattern, h)
		}
	}
	r.NotFound(s.handleNotFound(set))
	r.MethodNotAllowed(handleMethodNotAllowed)
	return r
}

// handleMethodNotAllowed is chi's 405 with Cache-Control: no-store, as on
// every error answer. The routes that can answer it are the pages and the
// probes, all GET and HEAD; the proxied prefixes take every method.
func handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusMethodNotAllowed)
}

// islandPath is the route of island requests (package island).
const islandPath = island.Path

func handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	}
}

func (s *Server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		var missing []string
		if s.set.Load() == nil {
			missing = append(missing, "templates not loaded")
		}
		if s.registry != nil && !s.registry.Loaded() {
			missing = append(missing, "registry not loaded")
		}
		if len(missing) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			fmt.Fprintln(w, "ready")
		}
		for _, m := range missing {
			fmt.Fprintln(w, m)
		}
		if s.notices != nil {
			for _, n := range s.notices() {
				fmt.Fprintln(w, n)
			}
		}
	}
}

// ready reports whether templates and registry have been loaded: until
// then no page is served.
func (s *Server) ready() bool {
	return s.set.Load() != nil && (s.registry == nil || s.registry.Loaded())
}

// unavailable answers a page request before the first good load: 503,
// which the client may retry and a CDN must not keep. The body is the
// set's 503 page when templates are loaded, else a built-in one.
func (s *Server) unavailable(w http.ResponseWriter, set *template.Set) {
	s.serviceUnavailable(w, set, s.retry, "The site is starting. Please try again in a moment.")
}

// shed answers a page beyond MaxPages: 503 at once, asking the client to
// come back in a second.
func (s *Server) shed(w http.ResponseWriter, set *template.Set) {
	if s.metrics != nil {
		s.metrics.shed.Inc()
	}
	s.serviceUnavailable(w, set, "1", "The site is busy. Please try again in a moment.")
}

func (s *Server) serviceUnavailable(w http.ResponseWriter, set *template.Set, retry, say string) {
	var body []byte
	if set != nil {
		body = set.ErrorPage(http.StatusServiceUnavailable)
	}
	if body == nil {
		body = []byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>" + say + "</p></body></html>\n")
	}
	s.pageCSP(w)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", retry)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(body)
}

func (s *Server) handlePage(set *template.Set, tpl *template.Template) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			s.unavailable(w, set)
			return
		}
		// Load shedding: a page beyond the cap is refused before any
		// fragment is asked.
		if n := s.inFlight.Add(1); s.maxPages > 0 && n > s.maxPages {
			s.inFlight.Add(-1)
			// Pages whose visitors stopped reading must not keep this
			// one out for the whole write timeout (deadline.go).
			s.writes.squeeze()
			s.shed(w, set)
			return
		}
		if s.metrics != nil {
			s.metrics.pagesInFlight.Inc()
		}
		defer s.pageDone()
		s.pageCSP(w)
		s.composer.Serve(w, r, newPage(r, set, tpl))
	}
}

// pageDone counts a page out of those in flight.
func (s *Server) pageDone() {
	if s.metrics != nil {
		s.metrics.pagesInFlight.Dec()
	}
	s.inFlight.Add(-1)
}

// newPage is the page a request asks for, with its route's parameters.
// A frame of its own, gone before the page is served: a page's goroutine
// waits for fragments beneath handlePage's (the root package's
// TestAPageFitsAStackOf8KiB).
//
//go:noinline
func newPage(r *http.Request, set *template.Set, tpl *template.Template) *stream.Page {
	var params map[string]string
	if rc := chi.RouteContext(r.Context()); rc != nil && len(rc.URLParams.Keys) > 0 {
		params = make(map[string]string, len(rc.URLParams.Keys))
		for i, k := range rc.URLParams.Keys {
			if k != "*" {
				params[k] = routeParam(r, rc.URLParams.Values[i])
			}
		}
	}
	return &stream.Page{
		Template:  tpl,
		ErrorPage: set.ErrorPage,
		Params:    params,
		RequestID: RequestID(r.Context()),
	}
}

// routeParam decodes a route parameter's value. chi matches the escaped
// path when the request's spelling differs from Go's own (RawPath is set:
// "a%2Fb", lower-case hex) and the decoded path otherwise, so only the
// former is decoded here: either way a fragment gets "a/b" and "café".
func routeParam(r *http.Request, v string) string {
	if r.URL.RawPath == "" {
		return v
	}
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}

func (s *Server) handleNotFound(set *template.Set) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if set == nil || !s.ready() {
			s.unavailable(w, set)
			return
		}
		body := set.ErrorPage(http.StatusNotFound)
		s.pageCSP(w)
		if body == nil {
			body = []byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>404 Not Found</title></head><body><h1>Not Found</h1><p>There is no page at this address.</p></body></html>\n")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(body)
	}
}
