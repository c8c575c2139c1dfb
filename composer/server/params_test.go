package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
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
