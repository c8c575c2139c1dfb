package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// routes is the whole HTTP surface for one template set (nil before the
// first set is loaded).
func (s *Server) routes(set *template.Set) http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", s.handleReadyz())
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
	return r
}

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
			for _, m := range missing {
				fmt.Fprintln(w, m)
			}
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

func (s *Server) handlePage(set *template.Set, tpl *template.Template) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var params map[string]string
		if rc := chi.RouteContext(r.Context()); rc != nil && len(rc.URLParams.Keys) > 0 {
			params = make(map[string]string, len(rc.URLParams.Keys))
			for i, k := range rc.URLParams.Keys {
				if k != "*" {
					params[k] = routeParam(r, rc.URLParams.Values[i])
				}
			}
		}
		s.pageCSP(w)
		s.composer.Serve(w, r, &stream.Page{
			Template:  tpl,
			ErrorPage: set.ErrorPage,
			Params:    params,
			RequestID: RequestID(r.Context()),
		})
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
		var body []byte
		if set != nil {
			body = set.ErrorPage(http.StatusNotFound)
		}
		s.pageCSP(w)
		if body == nil {
			body = []byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>404 Not Found</title></head><body><h1>Not Found</h1><p>There is no page at this address.</p></body></html>\n")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(body)
	}
}
