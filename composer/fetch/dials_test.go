package fetch

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedDials is a dialler whose dials to gated addresses wait for release
// (or their context) before dialling, and that counts the dials waiting
// there at once: a dial that takes its time, as a burst of thousands does
// on a busy machine.
type gatedDials struct {
	gated   map[string]bool
	release chan struct{}
	waiting atomic.Int64
	most    atomic.Int64
}

func (g *gatedDials) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if g.gated[addr] {
		n := g.waiting.Add(1)
		for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
		}
		select {
		case <-g.release:
			g.waiting.Add(-1)
		case <-ctx.Done():
			g.waiting.Add(-1)
			return nil, ctx.Err()
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func answering(t *testing.T) (*httptest.Server, string) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "answer to "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	return s, u.Host
}

// A burst of requests to one address with nothing pooled dials at most
// wireDialsPerAddr at once; the rest wait their turn as a queued function,
// not as a goroutine each. A dial waiting in connect holds a goroutine's
// stack (4 to 8 KB): the harness's thousand pages of five fragments, all
// dialled at once, held 2,500 such goroutines and 20 MB of stacks, and
// the stack memory stayed with the process after they ended. Every
// request is still answered, each on its own connection.
//
// Not parallel: it counts the process's goroutines.
func TestABurstOfDialsToOneAddressIsBounded(t *testing.T) {
	const n = 4 * wireDialsPerAddr
	s, addr := answering(t)
	g := &gatedDials{gated: map[string]bool{addr: true}, release: make(chan struct{})}
	h := newHTTP(nil, g.dial)
	defer h.Close()
	h.plain.dialWait = time.Minute // these dials are held for the test, not slow
	ctx := bounded(t)
	runtime.GC()
	runtime.GC() // the pool of head buffers is empty: a buffer taken is a buffer made
	made := headsMade.Load()
	before := clientGoroutines()
	reqs := make([]*Request, n)
	for i := range reqs {
		reqs[i] = &Request{Endpoint: fmt.Sprintf("%s/burst/%d", s.URL, i), Header: http.Header{"X-Request-Id": {"burst"}}}
		if !h.Presend(ctx, reqs[i]) {
			t.Fatalf("request %d was not sent ahead", i)
		}
	}
	// Each Presend has started its dial's goroutine, or queued its dial.
	if got := clientGoroutines() - before; got > wireDialsPerAddr {
		t.Errorf("%d requests to one address sent ahead with nothing pooled: %d goroutines, want at most %d", n, got, wireDialsPerAddr)
	}
	if got := h.PoolStats().DialsWaited; got != n-wireDialsPerAddr {
		t.Errorf("%d dials waited their turn, want %d", got, n-wireDialsPerAddr)
	}
	// A request waiting for its dial holds its head's own bytes, not a
	// pooled buffer of 1 KB: a burst's thousands of buffers went back to
	// the pool together, which kept them through the next collection.
	// (One buffer would do; the race detector's pool drops a quarter of
	// what it is given.)
	if got := headsMade.Load() - made; got > n/2 {
		t.Errorf("%d requests sent ahead, waiting for their dials: %d head buffers made, want one", n, got)
	}
	for end := time.Now().Add(10 * time.Second); g.waiting.Load() < wireDialsPerAddr; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d dials began, want %d", g.waiting.Load(), wireDialsPerAddr)
		}
	}
	close(g.release)
	for i, req := range reqs {
		status, body, err := fetchAll(ctx, h, req)
		if want := fmt.Sprintf("answer to /burst/%d", i); err != nil || status != 200 || body != want {
			t.Errorf("request %d: %d %q %v, want %q", i, status, body, err, want)
		}
	}
	if most := g.most.Load(); most > wireDialsPerAddr {
		t.Errorf("%d dials to one address at once, want at most %d", most, wireDialsPerAddr)
	}
	// Dials for Fetch alone (nothing sent ahead) take their turn the same way.
	g.release = make(chan struct{})
	g.most.Store(0)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			path := fmt.Sprintf("/fetch/%d", i)
			req := &Request{Endpoint: s.URL + path, Header: http.Header{"X-Request-Id": {"burst"}, "Authorization": {"a visitor's own: never pooled"}}}
			if status, body, err := fetchAll(ctx, h, req); err != nil || status != 200 || body != "answer to "+path {
				t.Errorf("%s: %d %q %v", path, status, body, err)
			}
		})
	}
	for end := time.Now().Add(10 * time.Second); g.waiting.Load() < wireDialsPerAddr; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d dials began, want %d", g.waiting.Load(), wireDialsPerAddr)
		}
	}
	close(g.release)
	wg.Wait()
	if most := g.most.Load(); most > wireDialsPerAddr {
		t.Errorf("%d dials to one address at once for Fetch, want at most %d", most, wireDialsPerAddr)
	}
}

// A fragment server that takes no connections holds back the dials to
// its own address only: a page's other fragments dial theirs at once.
func TestDialsStuckOnOneAddressHoldNoneToAnother(t *testing.T) {
	stuck, stuckAddr := answering(t)
	s, _ := answering(t)
	g := &gatedDials{gated: map[string]bool{stuckAddr: true}, release: make(chan struct{})}
	defer close(g.release)
	h := newHTTP(nil, g.dial)
	defer h.Close()
	ctx, cancel := context.WithCancel(bounded(t))
	defer cancel()
	for i := range 2 * wireDialsPerAddr {
		h.Presend(ctx, &Request{Endpoint: fmt.Sprintf("%s/stuck/%d", stuck.URL, i), Header: http.Header{"X-Request-Id": {"stuck"}}})
	}
	for end := time.Now().Add(10 * time.Second); g.waiting.Load() < wireDialsPerAddr; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d dials began, want %d", g.waiting.Load(), wireDialsPerAddr)
		}
	}
	if status, body, err := fetchAll(bounded(t), h, &Request{Endpoint: s.URL + "/other", Header: http.Header{"X-Request-Id": {"other"}}}); err != nil || status != 200 || body != "answer to /other" {
		t.Errorf("another address, with one stuck: %d %q %v", status, body, err)
	}
	// A dial whose page is gone while it waits its turn fails at once.
	req := &Request{Endpoint: stuck.URL + "/late", Header: http.Header{"X-Request-Id": {"late"}}}
	lctx, lcancel := context.WithCancel(bounded(t))
	if !h.Presend(lctx, req) {
		t.Fatal("not sent ahead")
	}
	lcancel()
	if _, _, err := fetchAll(lctx, h, req); err == nil {
		t.Error("a request whose context ended while its dial waited was answered")
	}
	// A Fetch whose dial waits its turn ends with its deadline, not when
	// a line comes free (here never): sent ahead or not, a visitor's own
	// connection or not.
	for _, personal := range []bool{false, true} {
		header := http.Header{"X-Request-Id": {"deadline"}}
		if personal {
			header.Set("Authorization", "a visitor's own")
		}
		dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		done := make(chan error, 1)
		go func() {
			_, _, err := fetchAll(dctx, h, &Request{Endpoint: stuck.URL + "/deadline", Header: header})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("personal %v: answered by a server that takes no connections", personal)
			}
		case <-time.After(5 * time.Second): // a bound, not a claim
			t.Errorf("personal %v: a Fetch with 50 ms to live waited 5 s for its turn to dial", personal)
		}
		dcancel()
	}
}

// A dial waits for a line at most wireDialWait: past it, it dials on a
// goroutine of its own. A fragment server that never completes a
// connection holds each of its lines for the dialler's whole timeout (2
// s): without the limit, the 65th page's fragment waited 2 s for a line,
// the 129th 4 s, and the rest their whole deadline, where every one of
// them used to fail at 2 s (found by an outside attack: 300 pages at once,
// one fragment on a server that took no connections).
func TestADialWaitsForALineOnlyBriefly(t *testing.T) {
	_, addr := answering(t)
	g := &gatedDials{gated: map[string]bool{addr: true}, release: make(chan struct{})}
	defer close(g.release)
	h := newHTTP(nil, g.dial)
	defer h.Close()
	ctx := bounded(t)
	const n = 2 * wireDialsPerAddr
	h.plain.dialWait = wireDialWait
	for i := range n {
		h.Presend(ctx, &Request{Endpoint: fmt.Sprintf("http://%s/stuck/%d", addr, i), Header: http.Header{"X-Request-Id": {"stuck"}}})
	}
	// No line comes free; every dial begins all the same.
	for end := time.Now().Add(5 * time.Second); g.waiting.Load() < n; time.Sleep(time.Millisecond) { // a bound, not a claim
		if time.Now().After(end) {
			t.Fatalf("%d of %d dials began with every line held, want all once they waited %v", g.waiting.Load(), n, wireDialWait)
		}
	}
	if s := h.PoolStats(); s.DialsWaited != n-wireDialsPerAddr || s.DialsLate != n-wireDialsPerAddr {
		t.Errorf("dials waited %d, late %d; want %d each", s.DialsWaited, s.DialsLate, n-wireDialsPerAddr)
	}
}

// A head buffer grown past 4 KB (a visitor's cookies forwarded, tens of
// kilobytes) is not pooled: the pool would keep it, and hand a request of
// a few hundred bytes a buffer of sixty.
func TestAHugeHeadsBufferIsNotPooled(t *testing.T) {
	s, _ := answering(t)
	h := NewHTTP()
	defer h.Close()
	ctx := bounded(t)
	runtime.GC()
	runtime.GC() // the pool is empty: a buffer taken is a buffer made
	made := headsMade.Load()
	big := &Request{Endpoint: s.URL + "/big", Header: http.Header{"X-Request-Id": {"big"}, "X-Big": {strings.Repeat("x", 60<<10)}}}
	if status, _, err := fetchAll(ctx, h, big); err != nil || status != 200 {
		t.Fatalf("big head: %d %v", status, err)
	}
	small := &Request{Endpoint: s.URL + "/small", Header: http.Header{"X-Request-Id": {"small"}}}
	if status, _, err := fetchAll(ctx, h, small); err != nil || status != 200 {
		t.Fatalf("small head: %d %v", status, err)
	}
	if got := headsMade.Load() - made; got != 2 {
		t.Errorf("%d head buffers made for a huge head and then a small one, want 2 (the huge one's not kept)", got)
	}
}
