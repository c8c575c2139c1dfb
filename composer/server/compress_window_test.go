package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// brotliWindowBits reads WBITS from a brotli stream's first bits (RFC 7932
// section 9.1).
func brotliWindowBits(b []byte) int {
	v := uint(b[0]) | uint(b[1])<<8
	if v&1 == 0 {
		return 16
	}
	if n := (v >> 1) & 7; n != 0 {
		return 17 + int(n)
	}
	if m := (v >> 4) & 7; m != 0 {
		return 8 + int(m)
	}
	return 17
}

// A brotli stream's window is what its encoder keeps: at the library's
// default (4 MiB) an encoder holds about 9 MB once a page has gone
// through it, and every page being compressed holds one. Pages are read
// front to back and their repeats are near: 256 KiB is plenty.
func TestBrotliWindowIsSmall(t *testing.T) {
	page := strings.Repeat("<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\n", 200)
	h := compress(&compressorBudget{limit: DefaultCompressorBytes}, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Encoding", "br")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if got := rec.Header().Get("Content-Encoding"); got != "br" || len(body) < 2 {
		t.Fatalf("Content-Encoding %q, %d bytes", got, len(body))
	}
	if bits := brotliWindowBits(body); bits > 18 {
		t.Errorf("brotli window of 2^%d bytes, want at most 2^18", bits)
	}
	plain, err := io.ReadAll(brotli.NewReader(strings.NewReader(string(body))))
	if err != nil || string(plain) != page {
		t.Errorf("the page does not decode back (%v)", err)
	}
}
