package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/registry"
)

// HEAD on a page answers with the headers GET would have, compression's
// included: a CDN or a checker that asks with HEAD learns the truth.
func TestHeadHasTheHeadersOfGet(t *testing.T) {
	t.Parallel()
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "<p>fragment</p>")
	}))
	defer frag.Close()
	reg := registry.New(map[string]registry.Entry{"f": {Endpoint: frag.URL}})
	s, ts, _ := newServer(t, reg, nil)
	s.SetTemplates(buildSet(t, map[string]string{
		"routes.json": `{"/": "a.html"}`,
		"a.html":      "<!doctype html><title>t</title><p>" + strings.Repeat("page ", 400) + `</p><micro-frontend id=f errorbehaviour=error/>`,
		"404.html":    "small",
	}))
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	headers := func(method, path, accept string) http.Header {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header.Clone()
		// Per response or per connection, not per method.
		for _, k := range []string{"Date", "Content-Length", "Transfer-Encoding", "X-Request-Id", "Server-Timing"} {
			h.Del(k)
		}
		return h
	}
	for _, path := range []string{"/", "/nope"} {
		for _, accept := range []string{"br", "gzip", "gzip, br", ""} {
			get, head := headers("GET", path, accept), headers("HEAD", path, accept)
			if !reflect.DeepEqual(get, head) {
				t.Errorf("%s with Accept-Encoding %q:\n GET  %v\n HEAD %v", path, accept, get, head)
			}
			if path == "/" && accept != "" && get.Get("Content-Encoding") == "" {
				t.Errorf("%s with %q: GET not compressed: %v", path, accept, get)
			}
		}
	}
}
