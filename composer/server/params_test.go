package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/registry"
)

// echoFragment records the query every request brings.
func echoFragment(t *testing.T) (string, <-chan url.Values) {
	t.Helper()
	got := make(chan url.Values, 16)
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query()
	}))
	t.Cleanup(frag.Close)
	return frag.URL, got
}

func received(t *testing.T, got <-chan url.Values) url.Values {
	t.Helper()
	select {
	case q := <-got:
		return q
	case <-time.After(20 * time.Second):
		t.Fatal("the fragment was not requested")
	}
	return nil
}

// Route parameters reach fragments decoded, whatever the spelling of the
// page's path.
func TestRouteParametersAreDecoded(t *testing.T) {
	t.Parallel()
	echo, got := echoFragment(t)
	s, ts, _ := newServer(t, registry.New(map[string]registry.Entry{"echo": {Endpoint: echo + "/echo"}}), nil)
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/p/{id}": "p.html"}`, "p.html": `<micro-frontend id=echo/>`}))
	for path, want := range map[string]string{
		"/p/plain":        "plain",
		"/p/a%2Fb":        "a/b",
		"/p/a%2fb":        "a/b",
		"/p/caf%c3%a9":    "café",
		"/p/caf%C3%A9":    "café",
		"/p/caf%C3%A9%3F": "café?",
		"/p/100%25":       "100%",
		"/p/a%20b":        "a b",
	} {
		if resp, _ := do(t, "GET", ts.URL+path, nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
			continue
		}
		if q := received(t, got); q.Get("id") != want || len(q["id"]) != 1 {
			t.Errorf("%s: the fragment received id=%q, want %q", path, q["id"], want)
		}
	}
}

// The registry entry's own query parameters come first, then the route
// parameters, then the page's query: a lower one of the same name is
// dropped, never appended.
func TestParameterPrecedence(t *testing.T) {
	t.Parallel()
	echo, got := echoFragment(t)
	s, ts, _ := newServer(t, registry.New(map[string]registry.Entry{"echo": {Endpoint: echo + "/echo?tenant=fixed"}}), nil)
	s.SetTemplates(buildSet(t, map[string]string{
		"routes.json": `{"/p/{id}": "p.html", "/t/{tenant}": "p.html"}`,
		"p.html":      `<micro-frontend id=echo/>`,
	}))
	for _, tt := range []struct {
		path string
		want url.Values
	}{
		{"/p/1?tenant=evil", url.Values{"tenant": {"fixed"}, "id": {"1"}}},
		{"/p/1?tenant=evil&tenant=worse&lang=de", url.Values{"tenant": {"fixed"}, "id": {"1"}, "lang": {"de"}}},
		{"/p/1?ten%61nt=evil", url.Values{"tenant": {"fixed"}, "id": {"1"}}},
		{"/p/1?id=2&id=3", url.Values{"tenant": {"fixed"}, "id": {"1"}}},
		{"/t/evil", url.Values{"tenant": {"fixed"}}},
		{"/t/evil?tenant=worse", url.Values{"tenant": {"fixed"}}},
	} {
		if resp, _ := do(t, "GET", ts.URL+tt.path, nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d", tt.path, resp.StatusCode)
			continue
		}
		if q := received(t, got); !reflect.DeepEqual(q, tt.want) {
			t.Errorf("%s: the fragment received %v, want %v", tt.path, q, tt.want)
		}
	}
}

// A page parameter whose name a fragment's framework may read as one the
// registry entry fixes gets no further than the fixed one: names are
// compared lower case, trimmed of spaces and control characters, without
// a trailing [...] (PHP, Rails: tenant[]), and the query is re-encoded, so
// a ";" is %3B and no framework splitting on it finds a second pair.
// Issue 12, finding F4.
func TestParameterPollutionPastAFixedParameter(t *testing.T) {
	t.Parallel()
	raw := make(chan string, 16)
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw <- r.URL.RawQuery
	}))
	t.Cleanup(frag.Close)
	s, ts, _ := newServer(t, registry.New(map[string]registry.Entry{"echo": {Endpoint: frag.URL + "/echo?tenant=fixed"}}), nil)
	s.SetTemplates(buildSet(t, map[string]string{
		"routes.json": `{"/e": "p.html", "/p/{id}": "p.html", "/T/{Tenant}": "p.html"}`,
		"p.html":      `<micro-frontend id=echo/>`,
	}))
	for _, tt := range []struct {
		path string
		want url.Values // as a ";"-splitting parser reads the query
	}{
		{"/e?x=1;tenant=evil", url.Values{"tenant": {"fixed"}, "x": {"1;tenant=evil"}}},
		{"/e?x=1%3Btenant=evil", url.Values{"tenant": {"fixed"}, "x": {"1;tenant=evil"}}},
		{"/p/1?x=1;tenant=evil", url.Values{"tenant": {"fixed"}, "id": {"1"}, "x": {"1;tenant=evil"}}},
		{"/e?Tenant=evil", url.Values{"tenant": {"fixed"}}},
		{"/e?TENANT=evil&lang=de", url.Values{"tenant": {"fixed"}, "lang": {"de"}}},
		{"/e?tenant[]=evil", url.Values{"tenant": {"fixed"}}},
		{"/e?tenant%5B%5D=evil", url.Values{"tenant": {"fixed"}}},
		{"/e?tenant[a][b]=evil", url.Values{"tenant": {"fixed"}}},
		{"/e?+tenant=evil", url.Values{"tenant": {"fixed"}}},
		{"/e?tenant%20=evil", url.Values{"tenant": {"fixed"}}},
		{"/e?tenant%00=evil", url.Values{"tenant": {"fixed"}}},
		{"/e?%09tenant%0d%0a=evil", url.Values{"tenant": {"fixed"}}},
		{"/p/1?tenant%20[]=evil&x=2", url.Values{"tenant": {"fixed"}, "id": {"1"}, "x": {"2"}}},
		{"/T/evil", url.Values{"tenant": {"fixed"}}},
		{"/e?tenants=ok&my_tenant=ok", url.Values{"tenant": {"fixed"}, "tenants": {"ok"}, "my_tenant": {"ok"}}},
	} {
		if resp, _ := do(t, "GET", ts.URL+tt.path, nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d", tt.path, resp.StatusCode)
			continue
		}
		var q string
		select {
		case q = <-raw:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the fragment was not requested", tt.path)
		}
		got := url.Values{}
		for _, pair := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
			k, v, _ := strings.Cut(pair, "=")
			k, err1 := url.QueryUnescape(k)
			v, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				t.Errorf("%s: the fragment received %q, not a query", tt.path, q)
			}
			got[k] = append(got[k], v)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: the fragment received %q, read as %v, want %v", tt.path, q, got, tt.want)
		}
	}
}
