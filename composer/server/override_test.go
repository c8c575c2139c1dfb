package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/override"
)

func TestOverrideTokenReachesTheRequestOnlyWhenSigned(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	good, err := override.Sign(key, override.Token{Fragments: map[string]string{"reviews": "https://preview.example/r"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := override.Sign([]byte(strings.Repeat("w", 32)), override.Token{Fragments: map[string]string{"reviews": "https://preview.example/r"}, Expires: time.Now().Add(time.Hour)})
	expired, _ := override.Sign(key, override.Token{Fragments: map[string]string{"reviews": "https://preview.example/r"}, Expires: time.Now().Add(-time.Minute)})
	unsigned, _, _ := strings.Cut(good, ".")
	var seen *override.Token
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = override.FromContext(r.Context()) })
	for _, c := range []struct {
		name   string
		key    []byte
		header string
		cookie string
		want   bool
	}{
		{"header", key, good, "", true},
		{"cookie", key, "", good, true},
		{"no key set", nil, good, good, false},
		{"wrongly signed", key, wrong, "", false},
		{"unsigned", key, unsigned, "", false},
		{"expired", key, expired, "", false},
		{"expired cookie", key, "", expired, false},
	} {
		s := &Server{override: c.key}
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set(override.Header, c.header)
		}
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: override.Cookie, Value: c.cookie})
		}
		seen = nil
		w := httptest.NewRecorder()
		s.overrides(h).ServeHTTP(w, r)
		if got := seen != nil; got != c.want {
			t.Errorf("%s: token reached the handler: %v, want %v", c.name, got, c.want)
		}
		if w.Code != 200 || w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Errorf("%s: the visitor was told something: %d %q %v", c.name, w.Code, w.Body, w.Header())
		}
	}
}
