package fetch

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
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
