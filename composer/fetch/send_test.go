package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The request is written inside the wait for its answer (send): what ends
// a wait ends that one, on a kept connection as on a fresh one, and the
// request is not sent again (a timeout is no stale connection's failure).
func TestWireEndsTheWaitForAnAnswer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		if r.URL.Path == "/hold" {
			<-release // no answer, the connection open
			return false
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(answer(r.URL.Path)), answer(r.URL.Path))
		return true
	})
	h := newClient(t)
	ends := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"cause", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(100*time.Millisecond, func() { cancel(context.DeadlineExceeded) })
			return ctx, func() { cancel(nil) }
		}, context.DeadlineExceeded},
	}
	for _, end := range ends {
		// The connection of /ok is idle and is reused by /hold.
		if status, body, err := confGet(h, s.url+"/ok"); err != nil || status != 200 || body != answer("/ok") {
			t.Fatalf("%s: /ok: %d %q %v", end.name, status, body, err)
		}
		before := s.reqs.Load()
		ctx, cancel := end.ctx()
		done := make(chan error, 1)
		go func() {
			resp, err := h.Fetch(ctx, &Request{Endpoint: s.url + "/hold", Header: http.Header{}})
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, end.want) {
				t.Errorf("%s: err = %v, want %v", end.name, err, end.want)
			}
		case <-time.After(10 * time.Second): // a bound, not a claim
			t.Fatalf("%s: the fetch still waits for its answer", end.name)
		}
		cancel()
		if n := s.reqs.Load() - before; n != 1 {
			t.Errorf("%s: the server saw %d requests, want 1: a timeout is not retried", end.name, n)
		}
	}
	// A context ended before the request leaves: nothing is sent.
	if status, _, err := confGet(h, s.url+"/ok"); err != nil || status != 200 {
		t.Fatalf("/ok: %d %v", status, err)
	}
	before := s.reqs.Load()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Fetch(ctx, &Request{Endpoint: s.url + "/hold", Header: http.Header{}}); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: err = %v, want context.Canceled", err)
	}
	time.Sleep(50 * time.Millisecond) // what a request sent would take to arrive
	if n := s.reqs.Load() - before; n != 0 {
		t.Errorf("ended context: the server saw %d requests, want none", n)
	}
}

// A request head bigger than the socket takes at once (a server slow to
// read it): the socket takes a part, the connection's Write the rest, and
// the answer is read as usual; the connection is kept.
func TestWireRequestLargerThanTheSocketTakes(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		b := answer(r.URL.Path) + fmt.Sprintf(" %d", len(r.Header.Get("X-Request-Id")))
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
		return true
	})
	h := newClient(t)
	big := strings.Repeat("b", 16<<20)
	for i, path := range []string{"/big/1", "/big/2"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a claim
		resp, err := h.Fetch(ctx, &Request{Endpoint: s.url + path, Header: http.Header{"X-Request-Id": {big}}})
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if want := answer(path) + fmt.Sprintf(" %d", len(big)); err != nil || string(b) != want {
			t.Errorf("%s: %.60q %v, want %q", path, b, err, want)
		}
		if n := s.conns.Load(); n != 1 {
			t.Errorf("after request %d: %d connections, want 1", i+1, n)
		}
	}
}

// writeCounter is a dialler's wrapping of a connection: its Write is its
// own (it counts), and the socket underneath shows through (the embedded
// *net.TCPConn's SyscallConn).
type writeCounter struct {
	*net.TCPConn
	writes *atomic.Int64
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.TCPConn.Write(p)
}

// wrappingHTTP is NewHTTP with a dialler that wraps each connection it
// makes; it closes with the test.
func wrappingHTTP(t *testing.T, wrap func(net.Conn) net.Conn) *HTTP {
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	h := newHTTP(nil, func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	})
	t.Cleanup(h.Close)
	return h
}

// A dialler that wraps its connections keeps its Write: the request is
// written through the connection the dialler gave, never past it onto the
// socket underneath.
func TestWireWritesThroughTheDiallersConnection(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		return writeAnswer(c, r.URL.Path) == nil
	})
	var writes atomic.Int64
	h := wrappingHTTP(t, func(c net.Conn) net.Conn { return writeCounter{c.(*net.TCPConn), &writes} })
	for i := range 3 {
		path := fmt.Sprintf("/w/%d", i)
		if status, body, err := confGet(h, s.url+path); err != nil || status != 200 || body != answer(path) {
			t.Fatalf("%s: %d %q %v", path, status, body, err)
		}
	}
	if n := writes.Load(); n != 3 {
		t.Errorf("the dialler's connection wrote %d requests of 3", n)
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (the wrapped connection is kept and looked at)", n)
	}
}
