package server

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the write deadlines set on its connections.
type countingListener struct {
	net.Listener
	sets *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.sets}, nil
}

type countingConn struct {
	net.Conn
	sets *atomic.Int64
}

func (c countingConn) SetWriteDeadline(t time.Time) error {
	c.sets.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

// Each write of a response gets its deadline, d from its start, but a
// page's many writes and flushes, moments apart, do not each set it on
// the socket: a deadline set a moment ago (within d/16) serves the write
// that starts now. A write still gets at least d (the stalled-reader
// tests keep the most).
func TestWritesMomentsApartShareTheirDeadline(t *testing.T) {
	t.Parallel()
	dl := &deadlines{d: 30 * time.Second, writers: map[*deadlineWriter]struct{}{}}
	var sets atomic.Int64
	ts := httptest.NewUnstartedServer(dl.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 100 {
			io.WriteString(w, "<p>part of a page</p>")
			http.NewResponseController(w).Flush()
		}
	})))
	ts.Listener = countingListener{ts.Listener, &sets}
	ts.Start()
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// net/http's own lift after the response, and ours: a few, not 200.
	if n := sets.Load(); n > 6 {
		t.Errorf("%d write deadlines set for one response of 200 writes and flushes, want a few", n)
	}
}
