package fetch

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fetchBody(t *testing.T, h *HTTP, url string) (int, string) {
	t.Helper()
	resp, err := h.Fetch(context.Background(), &Request{Endpoint: url, Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status, string(b)
}

func TestH1ReusesConnectionsAndRetriesStaleOnes(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // chunked
		io.WriteString(w, "hello "+r.URL.Query().Get("n"))
	}))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	for i := range 5 {
		if status, body := fetchBody(t, h, s.URL+"/?n="+string(rune('0'+i))); status != 200 || body != "hello "+string(rune('0'+i)) {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential requests, want 1 kept alive", n)
	}
	// The server drops its idle connections; the pooled one is stale.
	s.CloseClientConnections()
	if status, body := fetchBody(t, h, s.URL+"/?n=x"); status != 200 || body != "hello x" {
		t.Errorf("after the server closed the idle connection: %d %q", status, body)
	}
}

func TestH1SkipsEarlyHintsAndClosesUnfinishedBodies(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, strings.Repeat("x", 64<<10))
	}))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	resp, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL, Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 {
		t.Errorf("status %d, want the final 200 after 103", resp.Status)
	}
	buf := make([]byte, 10)
	io.ReadFull(resp.Body, buf)
	resp.Body.Close() // most of the body unread: the connection cannot be reused
	if _, body := fetchBody(t, h, s.URL); len(body) != 64<<10 {
		t.Errorf("second body %d bytes", len(body))
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (an unfinished body's connection is closed)", n)
	}
}

func TestH1RefusesEncodedBodies(t *testing.T) {
	t.Parallel()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		io.WriteString(w, "\x1f\x8b not html")
	}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	if _, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL, Header: http.Header{}}); err == nil || !strings.Contains(err.Error(), "Content-Encoding") {
		t.Errorf("err = %v, want a refusal of the encoded body", err)
	}
}

// Requests waiting for a slow fragment, and idle connections, hold no read
// buffer: a thousand pages waiting on a slow team cost no 4 KiB each.
func TestH1WaitsWithoutReadBuffers(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 64)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	const n = 20
	// Empty the buffer pool, so that every buffer a waiting request took
	// would have to be made anew, and be counted.
	for made := readersMade.Load(); readersMade.Load() == made; {
		readers.Get()
	}
	before := readersMade.Load()
	errs := make(chan error, n)
	for range n {
		go func() {
			status, body := 0, ""
			resp, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL, Header: http.Header{}})
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				status, body, err = resp.Status, string(b), rerr
			}
			if err == nil && (status != 200 || body != "late") {
				err = fmt.Errorf("%d %q", status, body)
			}
			errs <- err
		}()
	}
	for range n {
		<-arrived
	}
	time.Sleep(50 * time.Millisecond) // not a timing claim: more time only makes the test stronger
	// A first read that finds nothing borrows a buffer for that read alone;
	// with two processors at most a couple are borrowed at once.
	if made := readersMade.Load() - before; made >= n/2 {
		t.Errorf("%d read buffers made for %d requests waiting for their answer, want them to hold none", made, n)
	}
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// Every response read: each connection has given its buffer back.
	h.plain.mu.Lock()
	defer h.plain.mu.Unlock()
	idle := 0
	for _, conns := range h.plain.idle {
		for _, cn := range conns {
			idle++
			if cn.br != nil {
				t.Error("an idle connection holds a read buffer")
			}
		}
	}
	if idle != n {
		t.Errorf("%d idle connections, want %d kept alive", idle, n)
	}
}
