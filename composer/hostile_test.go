package main

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawGet sends target as the request line's path, byte for byte (no client
// cleans or re-encodes it), and returns the status.
func rawGet(t *testing.T, base, target string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, safety)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(safety))
	if _, err := c.Write([]byte("GET " + target + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The proxy decodes and cleans the path: one that leaves its prefix, by
// any spelling, gets 400 and never reaches the target; one that stays is
// passed on cleaned.
func TestProxyRefusesPathsLeavingThePrefix(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
	}))
	defer target.Close()
	inst := start(t, map[string]string{"COMPOSER_PROXY": "/assets/=" + target.URL})

	for _, bad := range []string{
		"/assets/../secret",
		"/assets/%2e%2e/secret",
		"/assets/%2E%2E/secret",
		"/assets/..%2fsecret",
		"/assets/..%2Fsecret",
		"/assets/%2e%2e%2fsecret",
		"/assets/a/../../secret",
		"/assets/..%5csecret",
		`/assets/..\secret`,
		`/assets/a\..\..\secret`,
		"/assets/%252e%252e/secret",
		"/assets/..%252fsecret",
		"/assets/%252e%252e%252fsecret",
		"/assets/..",
		"/assets/%2e%2e",
	} {
		if status := rawGet(t, inst.base, bad); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, status)
		}
	}
	for _, good := range []string{"/assets/app.css", "/assets/a/../b.css", "/assets/x/./y.css?v=1", "/assets/dir/"} {
		if status := rawGet(t, inst.base, good); status != http.StatusOK {
			t.Errorf("%s: %d, want 200", good, status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/assets/app.css", "/assets/b.css", "/assets/x/y.css?v=1", "/assets/dir/"}
	if !slices.Equal(seen, want) {
		t.Errorf("the target saw %q, want only %q", seen, want)
	}
	for _, s := range seen {
		if strings.Contains(s, "secret") || strings.Contains(s, "..") || strings.Contains(strings.ToLower(s), "%2e") {
			t.Errorf("the target saw %q", s)
		}
	}
}
