package fetch

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
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

func TestHTTPReusesConnectionsAndRetriesStaleOnes(t *testing.T) {
	t.Parallel()
	s, conns := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // chunked
		io.WriteString(w, "hello "+r.URL.Query().Get("n"))
	}))
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

func TestHTTPSkipsEarlyHintsAndClosesUnfinishedBodies(t *testing.T) {
	t.Parallel()
	s, conns := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, strings.Repeat("x", 64<<10))
	}))
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

func TestHTTPRefusesEncodedBodies(t *testing.T) {
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

// An answer is a request's only if some of it was read after the request's
// first write began: bytes read before are a previous answer's leftovers
// or unsolicited, whatever the Transport's reading goroutine made of them.
func TestAnswerConnTellsLeftoversFromAnswers(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer server.Close()
	ac := &answerConn{Conn: client}
	defer ac.Close()
	go func() {
		io.WriteString(server, "stale")
		buf := make([]byte, 3)
		io.ReadFull(server, buf) // the request
		io.WriteString(server, "fresh")
	}()
	buf := make([]byte, 5)
	var a answerCheck
	a.gotConn(httptrace.GotConnInfo{Conn: ac, Reused: true})
	io.ReadFull(ac, buf) // read ahead, before the request
	if resp := (&http.Response{ProtoMajor: 1}); a.answered(resp) {
		t.Error("bytes read before the request was written taken for its answer")
	}
	io.WriteString(ac, "GET")
	io.ReadFull(ac, buf)
	if resp := (&http.Response{ProtoMajor: 1}); !a.answered(resp) || string(buf) != "fresh" {
		t.Errorf("bytes read after the request was written (%q) not taken for its answer", buf)
	}
	if !a.reused || a.conn != ac {
		t.Errorf("check %+v, want the reused connection", a)
	}
}

// A fragment receives the headers Headers picked and nothing else: no
// default User-Agent, no Accept-Encoding.
func TestHTTPSendsOnlyPickedHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 2)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header }))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	for _, hdr := range []http.Header{{"X-Request-Id": {"r"}}, {"X-Request-Id": {"r"}, "User-Agent": {"browser"}}} {
		resp, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL, Header: hdr})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sent := <-got
		if len(sent) != len(hdr) || sent.Get("User-Agent") != hdr.Get("User-Agent") || sent.Get("X-Request-Id") != "r" {
			t.Errorf("sent %v for %v", sent, hdr)
		}
		if _, ok := hdr["User-Agent"]; ok != (hdr.Get("User-Agent") != "") {
			t.Errorf("the caller's header was changed: %v", hdr)
		}
	}
}

// A wildcard pattern matches names below its domain, never an IP literal
// that happens to end the same way.
func TestMatchHostWildcardsNeverMatchIPLiterals(t *testing.T) {
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"*.2", "192.0.2.2", false},
		{"*.0.2.2", "192.0.2.2", false},
		{"*.2.2", "192.0.2.2", false},
		{"*.preview.test", "a.preview.test", true},
		{"*.preview.test", "preview.test", false},
		{"192.0.2.2", "192.0.2.2", true},
		{"::1", "::1", true},
	} {
		if got := MatchHost([]string{c.pattern}, c.host); got != c.want {
			t.Errorf("MatchHost(%q, %q) = %v, want %v", c.pattern, c.host, got, c.want)
		}
	}
}

// Every upstream connection keeps its write buffer for its whole life,
// and a thousand pages hold five thousand of them: the buffer is sized
// for a request head, and a head longer than it still goes out whole.
func TestHTTPWriteBufferIsSmallAndLongHeadsArriveWhole(t *testing.T) {
	t.Parallel()
	h := NewHTTP()
	defer h.Close()
	if n := h.transport.WriteBufferSize; n <= 0 || n > 1<<10 {
		t.Errorf("WriteBufferSize %d, want at most 1 KiB", n)
	}
	long := strings.Repeat("v", 6<<10)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Long"))
	}))
	defer s.Close()
	resp, err := h.Fetch(context.Background(), &Request{Endpoint: s.URL, Header: http.Header{"X-Long": {long}}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != long {
		t.Errorf("header of %d bytes came back as %d bytes (%v)", len(long), len(b), err)
	}
}
