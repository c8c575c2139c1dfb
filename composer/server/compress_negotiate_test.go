package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A coding refused by name (q=0, the weight's name in any case) stays
// refused whatever "*" accepts (RFC 9110, section 12.5.3).
func TestNegotiateHonoursEveryRefusal(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]string{
		"br;q=0, *":           "gzip",
		"*, br;q=0":           "gzip",
		"gzip;q=0, *":         "br",
		"br;q=0, gzip;q=0, *": "",
		"gzip;Q=0":            "",
		"gzip;Q=0, br;Q=0":    "",
		"br; Q=0.000, gzip":   "gzip",
		"*":                   "br",
		"*;q=0":               "",
		"gzip, br":            "br",
		"x-gzip":              "gzip",
	} {
		if got, _ := negotiate(accept); got != want {
			t.Errorf("Accept-Encoding %q: %q, want %q", accept, got, want)
		}
	}
}

// HEAD answers with the Content-Encoding GET would get now: past the
// compressor budget, light gzip's, or none for a client that takes only
// brotli.
func TestHeadSaysWhatGetWouldGetPastTheBudget(t *testing.T) {
	t.Parallel()
	page := strings.Repeat("<p>Lorem ipsum dolor sit amet.</p>\n", 100)
	for _, c := range []struct {
		limit          int64
		accept, method string
		want           string
	}{
		{DefaultCompressorBytes, "br", "HEAD", "br"},
		{0, "br", "HEAD", ""},
		{0, "br", "GET", ""},
		{0, "gzip, br", "HEAD", "gzip"},
		{0, "gzip, br", "GET", "gzip"},
	} {
		h := compress(&compressorBudget{limit: c.limit}, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK) // as a page does, HEAD or GET
			if r.Method != http.MethodHead {
				io.WriteString(w, page)
			}
		}))
		r := httptest.NewRequest(c.method, "/", nil)
		r.Header.Set("Accept-Encoding", c.accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if got := rec.Header().Get("Content-Encoding"); got != c.want {
			t.Errorf("budget %d, %s with %q: Content-Encoding %q, want %q", c.limit, c.method, c.accept, got, c.want)
		}
	}
}

// A strong validator names one representation: compressed, the answer is
// another, so its ETag becomes weak (RFC 9110, section 8.8.3), and a
// conditional or range request cannot take one coding's bytes for the
// other's.
func TestACompressedAnswersETagIsWeak(t *testing.T) {
	t.Parallel()
	page := strings.Repeat("<p>Lorem ipsum dolor sit amet.</p>\n", 100)
	h := compress(&compressorBudget{limit: DefaultCompressorBytes}, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, page)
	}))
	for accept, want := range map[string]string{"br": `W/"v1"`, "gzip": `W/"v1"`, "": `"v1"`} {
		r := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			r.Header.Set("Accept-Encoding", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if got := rec.Header().Get("ETag"); got != want {
			t.Errorf("Accept-Encoding %q: ETag %s, want %s", accept, got, want)
		}
	}
}

// A client's weights choose between the codings it accepts (RFC 9110,
// section 12.5.3): the higher weight wins, and brotli a tie. The fallback
// past the compressor budget is gzip whenever gzip is accepted at all.
func TestNegotiateFollowsTheClientsWeights(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]struct {
		enc string
		gz  bool
	}{
		"br;q=0.5, gzip;q=1":      {"gzip", true},
		"br;q=0.5, gzip":          {"gzip", true},
		"gzip;q=0.9, br":          {"br", true},
		"gzip;q=0.5, br;q=0.5":    {"br", true},
		"gzip;q=0.2, *;q=0.5":     {"br", true},
		"br;q=0.2, *;q=0.5":       {"gzip", true},
		"*;q=0.3, gzip;q=0.4":     {"gzip", true},
		"br;q=0.001":              {"br", false},
		"br;q=1, gzip;q=0.001":    {"br", true},
		"br;q=bad, gzip;q=0.5":    {"br", true},
		"gzip, deflate, br, zstd": {"br", true},
	} {
		if enc, gz := negotiate(accept); enc != want.enc || gz != want.gz {
			t.Errorf("Accept-Encoding %q: %q, %v; want %q, %v", accept, enc, gz, want.enc, want.gz)
		}
	}
}
