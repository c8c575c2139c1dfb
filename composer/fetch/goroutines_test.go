package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/goroutines"
)

// clientGoroutines counts the goroutines of this process that are not a
// test server's: those of the client, the test and the runtime.
func clientGoroutines() int {
	count := 0
	for _, g := range goroutines.Stacks() {
		if !strings.Contains(g, "net/http.(*conn).serve") && !strings.Contains(g, "net/http.(*Server).Serve") && !strings.Contains(g, "net/http.(*connReader).backgroundRead") {
			count++
		}
	}
	return count
}

// A fragment request in flight costs the goroutine that fetches it and no
// other, and an idle keep-alive connection costs none: a thousand pages of
// five fragments are five thousand requests at once, and their
// connections wait in the pool between pages. (net/http's Transport keeps
// a reading and a writing goroutine per connection, idle or not.)
//
// Not parallel: it counts the process's goroutines.
func TestHTTPIdleConnectionsCostNoGoroutines(t *testing.T) {
	const n = 20
	release := make(chan struct{})
	var inFlight atomic.Int64
	s, conns := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			inFlight.Add(1)
			<-release
		}
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	h := NewHTTP()
	defer h.Close()
	settle := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: not within 10 s", what)
			}
		}
	}
	before := clientGoroutines()
	fetchAll := func(path string) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				status, body, err := confGet(h, s.URL+path)
				if err != nil || status != 200 || body != "answer to "+path {
					t.Errorf("%s: %d %q %v", path, status, body, err)
				}
			})
		}
		if path == "/wait" {
			settle("every request reaches the server", func() bool { return inFlight.Load() == n })
			// n fetching goroutines and nothing else of the client's.
			if got := clientGoroutines() - before; got > n+2 {
				t.Errorf("%d requests in flight: %d goroutines, want %d (one each)", n, got, n)
			}
			close(release)
		}
		wg.Wait()
	}
	fetchAll("/wait")
	// The fetching goroutines end (or 2 s pass: a bound, not a claim).
	for end := time.Now().Add(2 * time.Second); clientGoroutines()-before > 2 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := clientGoroutines() - before; got > 2 {
		t.Errorf("%d idle connections: %d goroutines, want none", n, got)
	}
	// The connections were idle, not closed: the next requests use them.
	opened := conns.Load()
	fetchAll("/again")
	if conns.Load() != opened {
		t.Errorf("%d connections dialled for requests that had %d idle ones", conns.Load()-opened, opened)
	}
}

// With no goroutine watching a connection, the context still ends a read
// blocked in the middle of a body: the page that went away stops its
// fragment's body, whose connection is closed, not pooled.
func TestHTTPCancelEndsABodyRead(t *testing.T) {
	t.Parallel()
	s, conns := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stall" {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "<p>half")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	h := NewHTTP()
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := h.Fetch(ctx, &Request{Endpoint: s.URL + "/stall", Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "<p>half" {
		t.Fatalf("first read: %q %v", buf[:n], err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		read <- err
	}()
	cancel()
	select {
	case err := <-read:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second): // a bound, not a claim
		t.Fatal("a read blocked in a body did not end when its context was cancelled")
	}
	resp.Body.Close()
	if status, body, err := confGet(h, s.URL+"/next"); err != nil || status != 200 || body != "answer to /next" {
		t.Fatalf("/next: %d %q %v", status, body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the cancelled body's is not reused", n)
	}
}

// A context ended with a cause (the stream's clock ends a fragment's
// context with context.DeadlineExceeded, paused while the composer is
// busy elsewhere) gives an error that names the cause: a timeout, not a
// page gone.
func TestHTTPErrorsNameTheContextsCause(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer s.Close()
	defer close(release)
	h := NewHTTP()
	defer h.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(context.DeadlineExceeded) })
	_, err := h.Fetch(ctx, &Request{Endpoint: s.URL, Header: http.Header{}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the cause, context.DeadlineExceeded", err)
	}
}

// A request waiting for its answer's first byte holds no read buffer: a
// thousand pages of five slow fragments are five thousand requests
// waiting, and a buffer of wireReadBuffer bytes each would be 20 MB that
// hold nothing (and twice that in the heap the collector lets grow). The
// buffer is taken when the answer's first bytes are there to be read.
//
// Not parallel: it counts the read buffers the process makes.
func TestHTTPWaitingRequestsHoldNoReadBuffer(t *testing.T) {
	const n = 20
	s, inFlight, release := heldAnswers(t)
	h := NewHTTP()
	defer h.Close()
	made := readersMadeFromEmpty()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			path := "/" + strconv.Itoa(i)
			status, body, err := confGet(h, s.URL+path)
			if err != nil || status != 200 || body != "answer to "+path {
				t.Errorf("%s: %d %q %v", path, status, body, err)
			}
		})
	}
	// Every request has reached the server, and every fetching goroutine
	// waits on its connection for the answer.
	for end := time.Now().Add(10 * time.Second); inFlight.Load() < n || waitingInExchange() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d requests at the server, %d waiting for their answer: not %d within 10 s", inFlight.Load(), waitingInExchange(), n)
		}
	}
	if got := readersMade.Load() - made; got != 0 {
		t.Errorf("%d requests waiting for their first byte: %d read buffers of %d bytes made, want none", n, got, wireReadBuffer)
	}
	close(release)
	wg.Wait()
}

// heldAnswers starts a server that answers "answer to PATH" once release
// is closed, counting the requests that came.
func heldAnswers(t *testing.T) (s *httptest.Server, inFlight *atomic.Int64, release chan struct{}) {
	release, inFlight = make(chan struct{}), new(atomic.Int64)
	s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		<-release
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s, inFlight, release
}

// readersMadeFromEmpty empties the pool of read buffers, so that a buffer
// taken from now on is a buffer made, and returns the count made so far.
func readersMadeFromEmpty() int64 {
	runtime.GC()
	runtime.GC()
	return readersMade.Load()
}

// waitingInExchange counts the goroutines blocked on a socket inside
// wire.exchange: requests written, their answers awaited.
func waitingInExchange() int {
	count := 0
	for _, g := range goroutines.Stacks() {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, "(*wire).exchange") {
			count++
		}
	}
	return count
}
