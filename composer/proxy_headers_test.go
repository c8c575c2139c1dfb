package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// What a COMPOSER_PROXY target is told: the override token (header or
// cookie) never leaves the composer, the Host is the target's and the
// visitor's goes in X-Forwarded-Host; the visitor's other cookies and
// Authorization pass, and X-Forwarded-For and -Proto carry on the chain
// the front began.
func TestProxyHeadersToTheTarget(t *testing.T) {
	got := make(chan *http.Request, 4)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
	}))
	defer target.Close()
	targetURL, _ := url.Parse(target.URL)
	inst := start(t, map[string]string{"COMPOSER_PROXY": "/api/=" + target.URL})

	send := func(cookie string) *http.Request {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, inst.base+"/api/me?x=1", nil)
		req.Host = "shop.example"
		req.Header.Set("Mfe-Override", "v1.secret-token")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		req.Header.Set("Authorization", "Bearer visitor")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return <-got
	}

	r := send("a=1; mfe-override=v1.secret-token; b=2")
	if r.Host != targetURL.Host {
		t.Errorf("the target saw Host %q, want its own %q", r.Host, targetURL.Host)
	}
	if v := r.Header.Get("X-Forwarded-Host"); v != "shop.example" {
		t.Errorf("X-Forwarded-Host = %q, want the visitor's shop.example", v)
	}
	if v := r.Header.Values("Mfe-Override"); len(v) != 0 {
		t.Errorf("the target saw Mfe-Override %q", v)
	}
	if v := r.Header.Values("Cookie"); len(v) != 1 || v[0] != "a=1; b=2" {
		t.Errorf("the target saw Cookie %q, want the visitor's others, a=1; b=2", v)
	}
	if v := r.Header.Get("Authorization"); v != "Bearer visitor" {
		t.Errorf("Authorization = %q, want it passed", v)
	}
	if v := r.Header.Get("X-Forwarded-For"); v != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the front's chain and the composer's peer", v)
	}
	if v := r.Header.Get("X-Forwarded-Proto"); v != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want the front's https", v)
	}
	if r.URL.RequestURI() != "/api/me?x=1" {
		t.Errorf("the target saw %q", r.URL.RequestURI())
	}

	// The override cookie alone: no Cookie header at all.
	if r := send("mfe-override=v1.secret-token"); len(r.Header.Values("Cookie")) != 0 {
		t.Errorf("the target saw Cookie %q", r.Header.Values("Cookie"))
	}
}
