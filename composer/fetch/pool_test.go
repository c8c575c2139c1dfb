package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// burst fetches n requests from h at once: the server answers none until
// all n are in, so n connections are open together, as under a thousand
// pages of five fragments.
func burst(t *testing.T, h *HTTP, url string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), poolSafety)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			resp, err := h.Fetch(ctx, &Request{Endpoint: fmt.Sprintf("%s/?i=%d", url, i), Header: http.Header{"X-Request-Id": {"burst"}}})
			if err != nil {
				errs <- err
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// poolSafety bounds the waits of these tests; never a timing claim.
const poolSafety = 20 * time.Second

// barrier answers once n requests have come in, then every request at
// once, for one burst at a time.
func barrier(n int64) (http.Handler, func()) {
	var arrived atomic.Int64
	var mu sync.Mutex
	all := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("at") == "once" {
			io.WriteString(w, "ok")
			return
		}
		mu.Lock()
		ch := all
		mu.Unlock()
		if arrived.Add(1)%n == 0 {
			close(ch)
		}
		select {
		case <-ch:
		case <-time.After(poolSafety):
		}
		io.WriteString(w, "ok")
	})
	next := func() {
		mu.Lock()
		defer mu.Unlock()
		all = make(chan struct{})
	}
	return h, next
}

// The pool keeps the connections a burst used: a burst of 600 requests
// at once to one address opens 600 connections, and the next burst
// reuses them, instead of dialling again all but what a small cap kept
// (a thousand pages of five fragments dialled 4,500 connections again on
// their second wave, a goroutine and garbage each).
func TestThePoolKeepsTheConnectionsABurstUsed(t *testing.T) {
	const n = 600
	handler, next := barrier(n)
	s, opened := countedServer(t, handler)
	h := NewHTTP()
	defer h.Close()
	burst(t, h, s.URL, n)
	first := opened.Load()
	next()
	burst(t, h, s.URL, n)
	if again := opened.Load() - first; first != n || again > n/100 {
		t.Errorf("two bursts of %d requests: %d connections, then %d more; want %d, then none", n, first, again, n)
	}
}

// Connections the server closed for being idle (Node closes them after
// 5 s, nginx after 75) cost the next request one look, not one each: the
// ones idle longer than a dead one are dropped with it. A thousand pooled
// connections a server closed at once would otherwise be looked at and
// closed one by one on one fragment request's path.
func TestConnectionsTheServerClosedForIdlenessCostOneLook(t *testing.T) {
	const n = 64
	handler, _ := barrier(n)
	s, _, closed := countingServer(t, handler)
	h := NewHTTP()
	defer h.Close()
	burst(t, h, s.URL, n)
	s.CloseClientConnections()
	deadline := time.Now().Add(poolSafety)
	for closed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections closed", closed.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	// As if they had been idle for a while before the server closed them.
	w := h.plain
	w.mu.Lock()
	for _, list := range w.idle {
		for _, pc := range list {
			pc.since = pc.since.Add(-10 * time.Second)
		}
	}
	w.mu.Unlock()
	time.Sleep(10 * time.Millisecond) // the closes reach this side
	looks := w.looks.Load()
	ctx, cancel := context.WithTimeout(context.Background(), poolSafety)
	defer cancel()
	resp, err := h.Fetch(ctx, &Request{Endpoint: s.URL + "/?at=once", Header: http.Header{"X-Request-Id": {"after"}}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := w.looks.Load() - looks; got != 1 {
		t.Errorf("%d looks at %d dead idle connections, want 1", got, n)
	}
	w.mu.Lock()
	left := len(w.idle[s.Listener.Addr().String()])
	w.mu.Unlock()
	if left > 1 {
		t.Errorf("%d connections left in the pool, want the one just used", left)
	}
}
