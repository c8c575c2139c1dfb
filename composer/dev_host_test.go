package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// A page on another site that a DNS name was rebound to 127.0.0.1 for
// sends its own name as Host: the dev server refuses it, and refuses an
// events request from another origin, or not a GET.
func TestDevRefusesOtherHostsAndOrigins(t *testing.T) {
	w := startDevWorld(t, nil, layoutPage("one"))
	port := w.inst.base[strings.LastIndex(w.inst.base, ":"):]
	do := func(method, path, host, origin string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, w.inst.base+path, nil)
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // an events stream is cut here
		return resp.StatusCode
	}
	events := "/_dev/events" + "?page=/&v=x"
	for _, tc := range []struct {
		method, path, host, origin string
		want                       int
	}{
		{"GET", events, "evil.example" + port, "", 403},
		{"GET", events, "evil.example", "", 403},
		{"GET", events, "127.0.0.1.evil.example" + port, "", 403},
		{"GET", "/", "evil.example" + port, "", 403},
		{"GET", events, "", "http://evil.example", 403},
		{"GET", events, "", "null", 403},
		{"POST", events, "", "", 405},
		{"GET", events, "localhost" + port, "", 200},
		{"GET", events, "LOCALHOST" + port, "http://localhost" + port, 200},
		{"GET", events, "127.0.0.2" + port, "", 200},
		{"GET", events, "[::1]" + port, "http://[::1]" + port, 200},
		{"GET", events, "", "http://127.0.0.1" + port, 200},
		{"GET", "/", "localhost", "", 200},
	} {
		if got := do(tc.method, tc.path, tc.host, tc.origin); got != tc.want {
			t.Errorf("%s %s Host %q Origin %q: %d, want %d", tc.method, tc.path, tc.host, tc.origin, got, tc.want)
		}
	}
}
