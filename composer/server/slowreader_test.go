package server_test

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/gather"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
)

// A client that reads the page's head and then stops reading is dropped
// once a write has waited WriteTimeout, and its page's fragment requests
// are cancelled, however long the fragment would go on.
func TestStalledReaderIsDroppedAndItsFragmentsCancelled(t *testing.T) {
	t.Parallel()
	const safety = 20 * time.Second
	cancelled := make(chan struct{})
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(cancelled)
		chunk := []byte(strings.Repeat("<p>endless fragment</p>", 1000))
		// Bounded: 1 GiB, far more than any socket buffers hold.
		for range (1 << 30) / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if r.Context().Err() != nil {
				return
			}
		}
		t.Error("the fragment was read to its end: the stalled client was not dropped")
	}))
	defer frag.Close()

	reg := registry.New(map[string]registry.Entry{"big": {Endpoint: frag.URL, Timeout: time.Hour}})
	log := slog.New(slog.NewJSONHandler(&logbuf.Buffer{}, nil))
	h := fetch.NewHTTP()
	defer h.Close()
	c := &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log, MaxFragmentBytes: 1 << 40}
	s := server.New(server.Options{Log: log, Composer: c, Registry: reg, WriteTimeout: 200 * time.Millisecond})
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<p>head</p><micro-frontend id=big/><p>tail</p>`}))
	returned := make(chan struct{}, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		s.ServeHTTP(w, r)
	}))
	// As the composer serves: pages gathered (package gather).
	ts.Listener = gather.Listener{Listener: ts.Listener}
	ts.Config.ConnContext = gather.ConnContext
	ts.Start()
	defer ts.Close()

	conn, err := net.DialTimeout("tcp", ts.Listener.Addr().String(), safety)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive buffer: the kernel's buffers between the two fill
	// soon after the client stops reading.
	if err := conn.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(safety))
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: composer\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 64)
	var got strings.Builder
	for !strings.Contains(got.String(), "<p>head</p>") {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("reading the head: %v after %q", err, got.String())
		}
		got.WriteByte(b)
	}
	// The client stops reading here, and keeps its connection open.
	select {
	case <-cancelled:
	case <-time.After(safety):
		t.Fatal("the fragment request was not cancelled while the client stalled")
	}
	select {
	case <-returned:
	case <-time.After(safety):
		t.Fatal("the page handler did not return while the client stalled")
	}
}
