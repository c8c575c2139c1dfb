package server

import (
	"net/http"
	"time"

	"github.com/ssr-mfe/composer/composer/override"
)

// overrides puts a request's verified override token in its context: the
// Mfe-Override header, or else the mfe-override cookie. A token that is
// missing, unsigned, wrongly signed or expired changes nothing, and
// nothing is said to the visitor.
func (s *Server) overrides(next http.Handler) http.Handler {
	if len(s.override) == 0 {
		return next
	}
	return &overrideHandler{s, next}
}

// overrideHandler is the middleware: a type, not an http.HandlerFunc (see
// requestID).
type overrideHandler struct {
	s    *Server
	next http.Handler
}

func (h *overrideHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t := h.s.overrideToken(r); t != nil {
		r = r.WithContext(override.NewContext(r.Context(), t))
	}
	h.next.ServeHTTP(w, r)
}

func (s *Server) overrideToken(r *http.Request) *override.Token {
	raw := r.Header.Get(override.Header)
	if raw == "" {
		if c, err := r.Cookie(override.Cookie); err == nil {
			raw = c.Value
		}
	}
	if raw == "" {
		return nil
	}
	t, err := override.Verify(s.override, raw, time.Now())
	if err != nil {
		return nil
	}
	return t
}
