package server

import (
	"net/http"
	"time"

	"github.com/ssr-mfe/composer/composer/island"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// handleIsland answers the browser's island requests (package island):
// verified before any fragment is asked, counted and shed as pages are,
// then composed by stream.Composer.ServeIsland. Every answer, refusals
// included, has the island's headers (stream.IslandHeaders): never a
// page.
//
// A refusal is 404 with Cache-Control: no-store, for every reason alike
// (a debug-level line says which; the request's own line says 404): a
// request a browser did not send as a same-origin fetch (Sec-Fetch-Site, Sec-Fetch-Mode and Sec-Fetch-Dest,
// when it sends them), an unsigned, forged, expired or malformed one, one
// signed with a key not in the ring, and one whose template no longer has
// that fragment as a client or client-fallback slot there (a republish).
// CloudFront keeps a 404 only as its headers allow, so no refusal is
// handed to anyone else.
func (s *Server) handleIsland(set *template.Set) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		stream.IslandHeaders(h)
		if set == nil || !s.ready() {
			h.Set("Cache-Control", "no-store")
			h.Set("Retry-After", s.retry)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		c, reason := s.verifyIsland(set, r)
		if reason != "" {
			if s.log != nil {
				s.log.Debug("island refused", "request_id", RequestID(r.Context()), "reason", reason)
			}
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if n := s.inFlight.Add(1); s.maxPages > 0 && n > s.maxPages {
			s.inFlight.Add(-1)
			if s.metrics != nil {
				s.metrics.shed.Inc()
			}
			h.Set("Cache-Control", "no-store")
			h.Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		defer s.inFlight.Add(-1)
		if s.metrics != nil {
			s.metrics.pagesInFlight.Inc()
			defer s.metrics.pagesInFlight.Dec()
		}
		s.composer.ServeIsland(w, r, &stream.Island{
			Template:  set.Templates[c.Template],
			Slot:      c.Slot,
			Path:      c.Path,
			Params:    c.Params,
			Query:     c.Query,
			RequestID: RequestID(r.Context()),
		})
	}
}

// verifyIsland reads r's island claims, or says why r is not an island
// request to answer.
func (s *Server) verifyIsland(set *template.Set, r *http.Request) (island.Claims, string) {
	// A browser says what it is doing; a request from another site, or a
	// navigation (a victim sent to a crafted island URL, even from this
	// site), is not the island script's fetch.
	if v := r.Header.Get("Sec-Fetch-Site"); v != "" && v != "same-origin" {
		return island.Claims{}, "Sec-Fetch-Site: " + v
	}
	if v := r.Header.Get("Sec-Fetch-Mode"); v == "navigate" || v == "nested-navigate" {
		return island.Claims{}, "Sec-Fetch-Mode: " + v
	}
	if v := r.Header.Get("Sec-Fetch-Dest"); v != "" && v != "empty" {
		return island.Claims{}, "Sec-Fetch-Dest: " + v
	}
	ring := s.composer.Islands
	if ring == nil {
		return island.Claims{}, "no island keys"
	}
	c, err := ring.Verify(r.URL.RawQuery, time.Now(), stream.DebugParam)
	if err != nil {
		return island.Claims{}, err.Error()
	}
	tpl := set.Templates[c.Template]
	if tpl == nil || c.Slot >= len(tpl.Slots) {
		return island.Claims{}, "no such template slot"
	}
	if f := tpl.Slots[c.Slot]; f.ID != c.Fragment || !f.Client && !f.ClientFallback {
		return island.Claims{}, "the slot no longer names the fragment as an island"
	}
	return c, ""
}
