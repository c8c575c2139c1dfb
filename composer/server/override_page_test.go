package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
)

// Through the server's middleware: a signed token overrides a fragment
// and may turn the debug view on, and its page is never cacheable; an
// unsigned, wrongly signed or expired token is ignored, and the page is
// the normal, cacheable one.
func TestOverridePagesThroughTheServer(t *testing.T) {
	t.Parallel()
	serve := func(body string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=60")
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s
	}
	frag, preview := serve("[registry]"), serve("[preview]")
	key := []byte(strings.Repeat("k", override.MinKeyLen))
	sign := func(k []byte, tok override.Token) string {
		s, err := override.Sign(k, tok)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hour := time.Now().Add(time.Hour)
	good := sign(key, override.Token{Fragments: map[string]string{"r": preview.URL}, Expires: hour})
	debug := sign(key, override.Token{Debug: true, Expires: hour})
	wrong := sign([]byte(strings.Repeat("w", override.MinKeyLen)), override.Token{Fragments: map[string]string{"r": preview.URL}, Debug: true, Expires: hour})
	expired := sign(key, override.Token{Fragments: map[string]string{"r": preview.URL}, Debug: true, Expires: time.Now().Add(-time.Minute)})
	unsigned, _, _ := strings.Cut(good, ".")

	reg := registry.New(map[string]registry.Entry{"r": {Endpoint: frag.URL}})
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	log := slog.New(slog.NewJSONHandler(&logbuf.Buffer{}, nil))
	c := &stream.Composer{Fetch: &fetch.Mux{HTTP: h, Override: h}, Registry: reg, Log: log}
	s := server.New(server.Options{Log: log, Composer: c, Registry: reg, OverrideKey: key})
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<body><micro-frontend id=r errorbehaviour=error/></body>`}))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)

	for _, cs := range []struct {
		name, token string
		cookie      bool
		query       string
		want        string // the fragment's body in the page
		personal    bool   // private, no-store
		debug       bool
	}{
		{"no token", "", false, "", "[registry]", false, false},
		{"signed, header", good, false, "", "[preview]", true, false},
		{"signed, cookie", good, true, "", "[preview]", true, false},
		{"wrongly signed", wrong, false, "", "[registry]", false, false},
		{"wrongly signed cookie", wrong, true, "", "[registry]", false, false},
		{"unsigned", unsigned, false, "", "[registry]", false, false},
		{"expired", expired, false, "", "[registry]", false, false},
		{"debug", debug, false, "?_debug=1", "[registry]", true, true},
		{"debug, cookie", debug, true, "?_debug=1", "[registry]", true, true},
		{"wrongly signed debug", wrong, false, "?_debug=1", "[registry]", true, false},
		{"expired debug", expired, false, "?_debug=1", "[registry]", true, false},
	} {
		hd := http.Header{}
		switch {
		case cs.token != "" && cs.cookie:
			hd.Set("Cookie", (&http.Cookie{Name: override.Cookie, Value: cs.token}).String())
		case cs.token != "":
			hd.Set(override.Header, cs.token)
		}
		resp, body := do(t, "GET", ts.URL+"/"+cs.query, hd)
		if resp.StatusCode != 200 || !strings.Contains(body, cs.want) {
			t.Errorf("%s: %d %q, want %s", cs.name, resp.StatusCode, body, cs.want)
		}
		cc := resp.Header.Get("Cache-Control")
		if cs.personal && cc != "private, no-store" || !cs.personal && !strings.Contains(cc, "s-maxage") {
			t.Errorf("%s: Cache-Control %q", cs.name, cc)
		}
		if got := strings.Contains(body, "<!-- mfe:begin id=r "); got != cs.debug {
			t.Errorf("%s: debug comments %v, want %v: %s", cs.name, got, cs.debug, body)
		}
		overridden := cs.want == "[preview]"
		if got := resp.Header.Get(stream.OverriddenHeader) == "r"; got != overridden {
			t.Errorf("%s: %s %q", cs.name, stream.OverriddenHeader, resp.Header.Get(stream.OverriddenHeader))
		}
	}
}
