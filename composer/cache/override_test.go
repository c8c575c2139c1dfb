package cache

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// fetchAs fetches url through c as a page would, marked Override or not,
// and returns the body and what the cache served it from.
func fetchAs(t *testing.T, c *Cache, url string, override bool) (body, from string) {
	t.Helper()
	resp, err := c.Fetch(context.Background(), &fetch.Request{Endpoint: url, Header: http.Header{}, Fragment: "reviews", Override: override})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.Cache
}

// An override request's answer is one visitor's: it is never served from
// the cache (Fetch nor Peek), never stored for others, and not counted.
func TestOverrideBypassesTheCache(t *testing.T) {
	t.Parallel()
	c, _, results := newTestCache(t, 1<<20)
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		if n.Add(1) == 1 {
			io.WriteString(w, "shared")
			return
		}
		io.WriteString(w, "preview")
	})
	if body, from := fetchAs(t, c, o.url, false); body != "shared" || from != Miss {
		t.Fatalf("first request: %q from %q, want \"shared\" from a miss", body, from)
	}
	if body, from := fetchAs(t, c, o.url, false); body != "shared" || from != Hit {
		t.Fatalf("second request: %q from %q, want \"shared\" from a hit", body, from)
	}
	if p := c.Peek(&fetch.Request{Endpoint: o.url, Header: http.Header{}, Override: true}); p != nil {
		p.Body.Close()
		t.Errorf("Peek handed a stored answer to an override request")
	}
	for range 2 {
		if body, from := fetchAs(t, c, o.url, true); body != "preview" || from != "" {
			t.Errorf("override request: %q from %q, want \"preview\" from the fragment itself", body, from)
		}
	}
	if got := o.calls.Load(); got != 3 {
		t.Errorf("the fragment got %d requests, want 3 (one miss, two overrides)", got)
	}
	// The overrides' answers were not stored over the shared one.
	if body, from := fetchAs(t, c, o.url, false); body != "shared" || from != Hit {
		t.Errorf("after the overrides: %q from %q, want \"shared\" from a hit", body, from)
	}
	total := int64(0)
	results.Range(func(_, v any) bool { total += v.(*atomic.Int64).Load(); return true })
	if total != 3 {
		t.Errorf("the observer was told %d results, want 3: none for the overrides", total)
	}
}

// An override request never waits for an identical request in flight
// (coalescing), nor makes others wait for it.
func TestOverrideIsNotCoalesced(t *testing.T) {
	t.Parallel()
	c, clk, _ := newTestCache(t, 1<<20)
	release := make(chan struct{})
	var held atomic.Int64
	o := newOrigin(t, serve("max-age=60", "shared"))
	fetchAs(t, c, o.url, false) // known cacheable: misses coalesce from now on
	clk.add(2 * time.Minute)
	o.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Held") != "" {
			held.Add(1)
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "fresh")
	})
	done := make(chan string, 1)
	go func() {
		resp, err := c.Fetch(context.Background(), &fetch.Request{Endpoint: o.url, Header: http.Header{"X-Held": {"1"}}})
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	waitCount(&held, 1)
	// The leader is held upstream: the override goes on its own (a
	// waiting one fails at the safety deadline).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Fetch(ctx, &fetch.Request{Endpoint: o.url, Header: http.Header{}, Override: true})
	if err != nil {
		t.Errorf("override request waited for the leader: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "fresh" || resp.Cache != "" {
			t.Errorf("override request: %q from %q", b, resp.Cache)
		}
	}
	close(release)
	if body := <-done; body != "fresh" {
		t.Errorf("leader: %q", body)
	}
}
