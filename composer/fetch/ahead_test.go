package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fetchAll fetches req through h and returns the status and the whole body.
func fetchAll(ctx context.Context, h *HTTP, req *Request) (int, string, error) {
	resp, err := h.Fetch(ctx, req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.Status, string(b), err
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a claim
	t.Cleanup(cancel)
	return ctx
}

// Requests sent ahead on kept connections cost no goroutine while their
// answers are awaited: the page's goroutine sends them all, then reads
// each answer in turn.
//
// Not parallel: it counts the process's goroutines.
func TestPresendOnKeptConnectionsCostsNoGoroutine(t *testing.T) {
	const n = 20
	release := make(chan struct{})
	var warm, inFlight atomic.Int64
	warmed := make(chan struct{})
	s, conns := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/warm":
			// n connections at once: every warming request waits for the
			// others.
			if warm.Add(1) == n {
				close(warmed)
			}
			<-warmed
		default:
			inFlight.Add(1)
			<-release
		}
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	h := NewHTTP()
	defer h.Close()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if status, body, err := confGet(h, s.URL+"/warm"); err != nil || status != 200 || body != "answer to /warm" {
				t.Errorf("/warm: %d %q %v", status, body, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	opened := conns.Load()
	// The warming goroutines end (or 2 s pass: a bound, not a claim).
	before := clientGoroutines()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if before = clientGoroutines(); before <= 3 {
			break
		}
	}
	runtime.GC()
	runtime.GC() // the pool of read buffers is empty: a buffer taken is a buffer made
	made := readersMade.Load()
	ctx := bounded(t)
	reqs := make([]*Request, n)
	for i := range reqs {
		reqs[i] = &Request{Endpoint: fmt.Sprintf("%s/ahead/%d", s.URL, i), Header: http.Header{"X-Request-Id": {"ahead"}}}
		if !h.Presend(ctx, reqs[i]) {
			t.Fatalf("request %d on a kept connection was not sent ahead", i)
		}
	}
	for end := time.Now().Add(10 * time.Second); inFlight.Load() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d requests sent ahead reached the server, not %d within 10 s", inFlight.Load(), n)
		}
	}
	if got := clientGoroutines() - before; got > 0 {
		t.Errorf("%d requests sent ahead, awaiting their answers: %d goroutines more, want none", n, got)
	}
	if got := readersMade.Load() - made; got != 0 {
		t.Errorf("%d requests sent ahead, awaiting their answers: %d read buffers made, want none", n, got)
	}
	close(release)
	for i, req := range reqs {
		status, body, err := fetchAll(ctx, h, req)
		if want := fmt.Sprintf("answer to /ahead/%d", i); err != nil || status != 200 || body != want {
			t.Errorf("request %d: %d %q %v, want %q", i, status, body, err, want)
		}
		Release(req) // a no-op after the claim
	}
	if c := conns.Load(); c != opened {
		t.Errorf("%d connections dialled for requests that had %d kept ones", c-opened, opened)
	}
	// The connections went back to the pool: the next requests use them.
	for i := range n {
		path := fmt.Sprintf("/again/%d", i)
		if status, body, err := confGet(h, s.URL+path); err != nil || status != 200 || body != "answer to "+path {
			t.Errorf("%s: %d %q %v", path, status, body, err)
		}
	}
	if c := conns.Load(); c != opened {
		t.Errorf("after Release of claimed requests: %d connections dialled, want none", c-opened)
	}
}

// closeCounter is a test server that counts its connections opened and
// closed, and holds the requests to /hold until the connection closes.
func closeCounter(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	return countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-r.Context().Done() // the client closed the connection
			return
		}
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
}

// Release closes the connection of a request sent ahead that no Fetch
// claimed, kept or dialled (the dial's goroutine ends); after a claim it
// does nothing.
func TestReleaseClosesUnclaimedRequests(t *testing.T) {
	t.Parallel()
	s, opened, closed := closeCounter(t)
	h := newClient(t)
	ctx := bounded(t)
	if status, _, err := confGet(h, s.URL+"/warm"); err != nil || status != 200 {
		t.Fatalf("/warm: %d %v", status, err)
	}
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"kept connection", http.Header{}},
		{"dialled connection", http.Header{"Cookie": {"personal"}}},
	} {
		o, c := opened.Load(), closed.Load()
		req := &Request{Endpoint: s.URL + "/hold", Header: tt.header}
		if !h.Presend(ctx, req) {
			t.Fatalf("%s: not sent ahead", tt.name)
		}
		Release(req)
		Release(req) // twice: nothing more
		waitFor(t, 10*time.Second, tt.name+": the server sees the connection close", func() bool { return closed.Load() > c })
		if Answered(req) {
			t.Errorf("%s: a released request is answered", tt.name)
		}
		// A Fetch after Release sends the request again: /hold holds it.
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := h.Fetch(short, req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: a Fetch after Release: %v, want the request sent again and held", tt.name, err)
		}
		if tt.name == "kept connection" && opened.Load() != o+1 {
			// The Fetch after Release went the normal way on a new
			// connection, held by /hold; the kept one was closed.
			t.Errorf("%s: %d connections opened, want 1 (the Fetch after Release)", tt.name, opened.Load()-o)
		}
	}
	// After a claim, Release leaves the connection to its body, which
	// gives it back to the pool.
	req := &Request{Endpoint: s.URL + "/claimed", Header: http.Header{}}
	if status, _, err := confGet(h, s.URL+"/warm"); err != nil || status != 200 {
		t.Fatalf("/warm: %d %v", status, err)
	}
	o := opened.Load()
	if !h.Presend(ctx, req) {
		t.Fatal("not sent ahead")
	}
	resp, err := h.Fetch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	Release(req)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "answer to /claimed" {
		t.Fatalf("claimed body after Release: %q %v", b, err)
	}
	if status, body, err := confGet(h, s.URL+"/next"); err != nil || status != 200 || body != "answer to /next" {
		t.Fatalf("/next: %d %q %v", status, body, err)
	}
	if n := opened.Load() - o; n != 0 {
		t.Errorf("%d connections dialled after a claimed request's Release, want 0: its connection is kept", n)
	}
}

// A request sent ahead whose dial is still running: Release, or a Fetch
// whose context ends while it waits, closes the connection once dialled.
func TestPresendPendingDialIsClosedWhenAbandoned(t *testing.T) {
	t.Parallel()
	s, _, closed := closeCounter(t)
	gate := make(chan struct{}, 1)
	var dialled atomic.Int64
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	h := newHTTP(nil, func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-gate
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil {
			dialled.Add(1)
		}
		return c, err
	})
	defer h.Close()
	ctx := bounded(t)
	for i, end := range []string{"release", "fetch deadline"} {
		req := &Request{Endpoint: s.URL + "/hold", Header: http.Header{}}
		if !h.Presend(ctx, req) {
			t.Fatalf("%s: not sent ahead", end)
		}
		if Answered(req) {
			t.Errorf("%s: answered while dialling", end)
		}
		if end == "release" {
			Release(req)
		} else {
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err := h.Fetch(short, req)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: err = %v, want context.DeadlineExceeded", end, err)
			}
		}
		gate <- struct{}{} // the dial ends now
		waitFor(t, 10*time.Second, end+": the dial ends", func() bool { return dialled.Load() == int64(i+1) })
		waitFor(t, 10*time.Second, end+": the connection dialled closes", func() bool { return closed.Load() == int64(i+1) })
	}
}

// Answered looks without taking: false until the server answers, true
// after, and the Fetch reads the whole answer.
func TestAnsweredLooksWithoutTaking(t *testing.T) {
	t.Parallel()
	answer := make(chan struct{})
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		if r.URL.Path == "/later" {
			<-answer
		}
		return writeAnswer(c, r.URL.Path) == nil
	})
	h := newClient(t)
	ctx := bounded(t)
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"kept connection", http.Header{}},
		{"dialled connection", http.Header{"Cookie": {"personal"}}},
	} {
		if status, _, err := confGet(h, s.url+"/warm"); err != nil || status != 200 {
			t.Fatalf("/warm: %d %v", status, err)
		}
		req := &Request{Endpoint: s.url + "/later", Header: tt.header}
		if Answered(req) {
			t.Errorf("%s: answered before being sent", tt.name)
		}
		if !h.Presend(ctx, req) {
			t.Fatalf("%s: not sent ahead", tt.name)
		}
		waitFor(t, 10*time.Second, tt.name+": the request reaches the server", func() bool { return s.reqs.Load() >= 2 })
		time.Sleep(20 * time.Millisecond) // an answer written by now would be seen (a margin, not a claim)
		if Answered(req) {
			t.Errorf("%s: answered before the server answered", tt.name)
		}
		answer <- struct{}{}
		waitFor(t, 10*time.Second, tt.name+": Answered once the server answered", func() bool { return Answered(req) })
		if !Answered(req) {
			t.Errorf("%s: the look took the answer", tt.name)
		}
		status, body, err := fetchAll(ctx, h, req)
		if err != nil || status != 200 || body != "answer to /later" {
			t.Errorf("%s: %d %q %v, want the whole answer", tt.name, status, body, err)
		}
		if Answered(req) {
			t.Errorf("%s: answered after the claim", tt.name)
		}
		s.reqs.Store(0)
	}
}

// The wait hook is called once before a read that would wait (the head
// not there yet, the body half there), never when the answer is there,
// and its error fails the read and closes the connection.
func TestWaitHook(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	steps := map[string]chan struct{}{}
	gate := func(path string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if steps[path] == nil {
			steps[path] = make(chan struct{}, 8)
		}
		return steps[path]
	}
	const body = "<p>first half</p><p>second half</p>"
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		switch r.URL.Path {
		case "/head":
			// The head after the hook.
			select {
			case <-gate(r.URL.Path + r.URL.RawQuery):
			case <-time.After(10 * time.Second):
				return false
			}
			return writeAnswer(c, r.URL.Path) == nil
		case "/silent":
			time.Sleep(time.Second) // no answer
			return false
		case "/body":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:17])
			select {
			case <-gate(r.URL.Path + r.URL.RawQuery):
			case <-time.After(10 * time.Second):
				return false
			}
			_, err := io.WriteString(c, body[17:])
			return err == nil
		}
		return writeAnswer(c, r.URL.Path) == nil
	})
	h := newClient(t)
	ctx := bounded(t)
	warm := func() {
		t.Helper()
		if status, _, err := confGet(h, s.url+"/warm"); err != nil || status != 200 {
			t.Fatalf("/warm: %d %v", status, err)
		}
	}
	hook := func(key string, calls *atomic.Int64, fail error) func() error {
		return func() error {
			calls.Add(1)
			if fail != nil {
				return fail
			}
			gate(key) <- struct{}{}
			return nil
		}
	}
	for _, ahead := range []bool{true, false} {
		t.Run(fmt.Sprintf("ahead=%v", ahead), func(t *testing.T) {
			send := func(req *Request) {
				t.Helper()
				if ahead && !h.Presend(ctx, req) {
					t.Fatalf("%s: not sent ahead", req.Endpoint)
				}
			}
			// The head is not there yet: one call, then the answer.
			warm()
			var calls atomic.Int64
			req := &Request{Endpoint: s.url + "/head", RawQuery: fmt.Sprint("a=", ahead), Header: http.Header{}}
			send(req)
			status, got, err := fetchAll(WithWaitHook(ctx, hook("/head"+req.RawQuery, &calls, nil)), h, req)
			if err != nil || status != 200 || got != answer("/head") {
				t.Errorf("head: %d %q %v", status, got, err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("head not there yet: hook called %d times, want 1", n)
			}
			// Half a body, then a pause: one call, before the read that
			// would wait.
			warm()
			calls.Store(0)
			req = &Request{Endpoint: s.url + "/body", RawQuery: fmt.Sprint("a=", ahead), Header: http.Header{}}
			send(req)
			if ahead {
				waitFor(t, 10*time.Second, "the head is there", func() bool { return Answered(req) })
			}
			status, got, err = fetchAll(WithWaitHook(ctx, hook("/body"+req.RawQuery, &calls, nil)), h, req)
			if err != nil || status != 200 || got != body {
				t.Errorf("body: %d %q %v", status, got, err)
			}
			// Without Presend the hook is also called after the request's
			// write, when the half may not be there yet either.
			if n := calls.Load(); n != 1 && (ahead || n != 2) {
				t.Errorf("half a body there: hook called %d times, want 1", n)
			}
			// A hook that fails: the read fails with its error.
			flushErr := errors.New("the page's flush failed")
			for _, path := range []string{"/head", "/body"} {
				warm()
				calls.Store(0)
				req = &Request{Endpoint: s.url + path, RawQuery: fmt.Sprint("fail=", ahead), Header: http.Header{}}
				send(req)
				if ahead && path == "/body" {
					waitFor(t, 10*time.Second, "the head is there", func() bool { return Answered(req) })
				}
				_, _, err = fetchAll(WithWaitHook(ctx, hook(path+req.RawQuery, &calls, flushErr)), h, req)
				if !errors.Is(err, flushErr) {
					t.Errorf("%s with a failing hook: err = %v, want the hook's", path, err)
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("%s with a failing hook: called %d times, want 1", path, n)
				}
				gate(path + req.RawQuery) <- struct{}{} // the server's handler ends
			}
		})
	}
	// The context's deadline and cancellation end a hooked read's wait.
	for _, end := range []error{context.DeadlineExceeded, context.Canceled} {
		warm()
		var calls atomic.Int64
		req := &Request{Endpoint: s.url + "/silent", Header: http.Header{}}
		if !h.Presend(ctx, req) {
			t.Fatal("not sent ahead")
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		if end == context.Canceled {
			short, cancel = context.WithCancel(ctx)
			time.AfterFunc(100*time.Millisecond, cancel)
		}
		_, err := h.Fetch(WithWaitHook(short, func() error { calls.Add(1); return nil }), req)
		cancel()
		if !errors.Is(err, end) {
			t.Errorf("a hooked wait for an answer that does not come: %v, want %v", err, end)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("a hooked wait for an answer that does not come: %d calls, want 1", n)
		}
	}
	// The answer is there before the Fetch: no call.
	warm()
	var calls atomic.Int64
	req := &Request{Endpoint: s.url + "/now", Header: http.Header{}}
	if !h.Presend(ctx, req) {
		t.Fatal("not sent ahead")
	}
	waitFor(t, 10*time.Second, "the answer is there", func() bool { return Answered(req) })
	status, got, err := fetchAll(WithWaitHook(ctx, hook("/now", &calls, nil)), h, req)
	if err != nil || status != 200 || got != answer("/now") {
		t.Errorf("/now: %d %q %v", status, got, err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("answer already there: hook called %d times, want 0", n)
	}
}

// On a dialler's own connection type (no socket to wait on), the hook is
// called before every read.
func TestWaitHookOnAWrappedConnection(t *testing.T) {
	t.Parallel()
	hooked := make(chan struct{}, 8)
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		select {
		case <-hooked:
		case <-time.After(10 * time.Second):
			return false
		}
		return writeAnswer(c, r.URL.Path) == nil
	})
	h := wrappingHTTP(t, func(c net.Conn) net.Conn { return struct{ net.Conn }{c} }) // no SyscallConn
	var calls atomic.Int64
	ctx := WithWaitHook(bounded(t), func() error {
		if calls.Add(1) == 1 {
			hooked <- struct{}{}
		}
		return nil
	})
	req := &Request{Endpoint: s.url + "/wrapped", Header: http.Header{}}
	h.Presend(ctx, req) // either way
	status, body, err := fetchAll(ctx, h, req)
	if err != nil || status != 200 || body != answer("/wrapped") {
		t.Errorf("%d %q %v", status, body, err)
	}
	if calls.Load() == 0 {
		t.Error("hook never called on a wrapped connection")
	}
}

// A request sent ahead on a kept connection that the server closes
// without answering (it closed it as it was taken) is sent again on a new
// connection; a copy of a request sent ahead goes the normal way.
func TestPresendRetriesOnAFreshConnection(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		if r.URL.Path == "/dropped" && no == 1 {
			return false // closed without an answer
		}
		return writeAnswer(c, r.URL.Path) == nil
	})
	h := newClient(t)
	ctx := bounded(t)
	if status, _, err := confGet(h, s.url+"/warm"); err != nil || status != 200 {
		t.Fatalf("/warm: %d %v", status, err)
	}
	req := &Request{Endpoint: s.url + "/dropped", Header: http.Header{}}
	if !h.Presend(ctx, req) {
		t.Fatal("not sent ahead")
	}
	if status, body, err := fetchAll(ctx, h, req); err != nil || status != 200 || body != answer("/dropped") {
		t.Errorf("%d %q %v, want the answer from a new connection", status, body, err)
	}
	if c, r := s.conns.Load(), s.reqs.Load(); c != 2 || r != 3 {
		t.Errorf("%d connections, %d requests; want 2 and 3 (warm, dropped, again)", c, r)
	}
	// A copy: the first Fetch claims, the other sends its own.
	req = &Request{Endpoint: s.url + "/copy", Header: http.Header{}}
	if !h.Presend(ctx, req) {
		t.Fatal("not sent ahead")
	}
	dup := *req
	before := s.reqs.Load()
	for _, r := range []*Request{&dup, req} {
		if status, body, err := fetchAll(ctx, h, r); err != nil || status != 200 || body != answer("/copy") {
			t.Errorf("copy: %d %q %v", status, body, err)
		}
	}
	if n := s.reqs.Load() - before; n != 1 {
		// The request sent ahead reached the server before the counting
		// began, or not: either way one more.
		if n != 2 {
			t.Errorf("%d requests for a request sent ahead and its copy, want 2 in all", n)
		}
	}
}

// Mux sends ahead only what goes to HTTP over the wire.
func TestMuxPresendRoutes(t *testing.T) {
	t.Parallel()
	s, _, _ := closeCounter(t)
	h := newClient(t)
	m := &Mux{HTTP: h, Override: h, Lambda: h}
	ctx := bounded(t)
	for _, tt := range []struct {
		req  *Request
		want bool
	}{
		{&Request{Endpoint: s.URL + "/m", Header: http.Header{}}, true},
		{&Request{Endpoint: s.URL + "/o", Header: http.Header{}, Override: true}, false},
		{&Request{Endpoint: "fn", Header: http.Header{}}, false},
		{&Request{Endpoint: "https://127.0.0.1:1/", Header: http.Header{}}, false},
	} {
		if got := Presend(m, ctx, tt.req); got != tt.want {
			t.Errorf("%s (override %v): Presend = %v, want %v", tt.req.Endpoint, tt.req.Override, got, tt.want)
		}
		Release(tt.req)
	}
	h.AllowHosts([]string{"example.com"})
	if h.Presend(ctx, &Request{Endpoint: s.URL + "/m", Header: http.Header{}}) {
		t.Error("a host not allowed was sent ahead")
	}
}

// failingWrites is a dialler's connection whose writes fail while fail is
// set.
type failingWrites struct {
	*net.TCPConn
	fail *atomic.Bool
}

func (c failingWrites) Write(p []byte) (int, error) {
	if c.fail.Load() {
		return 0, errors.New("write refused")
	}
	return c.TCPConn.Write(p)
}

// A write that fails at Presend is the Fetch's to report: on a kept
// connection the request is sent again on a new one; on a new connection
// it fails.
func TestPresendWriteFailure(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		return writeAnswer(c, r.URL.Path) == nil
	})
	var fail atomic.Bool
	var dials atomic.Int64
	h := wrappingHTTP(t, func(c net.Conn) net.Conn {
		dials.Add(1)
		return failingWrites{c.(*net.TCPConn), &fail}
	})
	ctx := bounded(t)
	if status, _, err := confGet(h, s.url+"/warm"); err != nil || status != 200 {
		t.Fatalf("/warm: %d %v", status, err)
	}
	// Kept connection: the write fails, the Fetch sends it again.
	fail.Store(true)
	req := &Request{Endpoint: s.url + "/kept", Header: http.Header{}}
	if !h.Presend(ctx, req) {
		t.Fatal("not sent ahead")
	}
	fail.Store(false)
	if status, body, err := fetchAll(ctx, h, req); err != nil || status != 200 || body != answer("/kept") {
		t.Errorf("kept connection, failed write: %d %q %v, want the answer from a new connection", status, body, err)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
	// New connection: the Fetch fails, nothing is sent again.
	fail.Store(true)
	req = &Request{Endpoint: s.url + "/fresh", Header: http.Header{"Cookie": {"personal"}}}
	if !h.Presend(ctx, req) {
		t.Fatal("not sent ahead")
	}
	if _, _, err := fetchAll(ctx, h, req); err == nil || !strings.Contains(err.Error(), "write refused") {
		t.Errorf("new connection, failed write: %v, want the write's error", err)
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("%d dials, want 3: a new connection's failure is not retried", n)
	}
}

// A page's Fetch of a request sent ahead holds no read buffer while it
// waits for the answer: a thousand pages each waiting for a fragment held
// a thousand 4 KiB buffers. The buffer is taken once the answer can be
// read, and the wait costs no system call more.
//
// Not parallel: it counts the read buffers the process makes.
func TestAFetchWaitingForItsAnswerHoldsNoReadBuffer(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops buffers on purpose")
	}
	const n = 20
	s, inFlight, release := heldAnswers(t)
	h := NewHTTP()
	defer h.Close()
	ctx := bounded(t)
	made := readersMadeFromEmpty()
	var hooks atomic.Int64
	hooked := WithWaitHook(ctx, func() error { hooks.Add(1); return nil })
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		req := &Request{Endpoint: fmt.Sprintf("%s/wait/%d", s.URL, i), Header: http.Header{"X-Request-Id": {"wait"}}}
		if !h.Presend(ctx, req) {
			t.Fatalf("request %d not sent ahead", i)
		}
		wg.Go(func() {
			_, body, err := fetchAll(hooked, h, req)
			if err != nil {
				body = err.Error()
			}
			results[i] = body
		})
		// One at a time: the buffer a Fetch takes for its first read, and
		// gives back when nothing is there yet, is the next one's (each P
		// of the pool keeps one of its own).
		for end := time.Now().Add(10 * time.Second); inFlight.Load() <= int64(i) || hooks.Load() <= int64(i); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%d requests reached the server, %d Fetches waiting, want %d each", inFlight.Load(), hooks.Load(), i+1)
			}
		}
	}
	if got, most := readersMade.Load()-made, int64(runtime.GOMAXPROCS(0)); got > most {
		t.Errorf("%d Fetches waiting for their answers: %d read buffers made, want at most %d (one a P)", n, got, most)
	}
	close(release)
	wg.Wait()
	for i, got := range results {
		if want := fmt.Sprintf("answer to /wait/%d", i); got != want {
			t.Errorf("request %d: %q, want %q", i, got, want)
		}
	}
}

// A Fetch whose answer comes between its first read (nothing yet) and its
// wait still gets it at once: the wait must not miss an answer that came
// before it began. Thousands of requests sent ahead, each answered a few
// microseconds after it arrives, each read by a Fetch with a wait hook:
// every answer within its deadline (one missed waits it out).
func TestAFetchNeverMissesAnAnswerThatCameBeforeItsWait(t *testing.T) {
	const n, conc = 20000, 8
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range rand.IntN(200) {
			_ = i // a few microseconds, different every time
		}
		io.WriteString(w, "answer")
	}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	var wg sync.WaitGroup
	var missed atomic.Int64
	for range conc {
		wg.Go(func() {
			for range n / conc {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // a bound, not a claim
				req := &Request{Endpoint: s.URL + "/a", Header: http.Header{"X-Request-Id": {"race"}}}
				if !h.Presend(ctx, req) {
					cancel()
					t.Error("not sent ahead")
					return
				}
				_, body, err := fetchAll(WithWaitHook(ctx, func() error { return nil }), h, req)
				cancel()
				if err != nil || body != "answer" {
					missed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if m := missed.Load(); m > 0 {
		t.Errorf("%d of %d answers missed (the Fetch waited out its deadline)", m, n)
	}
}

// A Fetch of a request sent ahead whose connection is still being dialled
// calls the wait hook before it waits for the dial: a page flushes what it
// wrote before it waits for a fragment whose host is slow to accept (an
// outside attack found a page held, bytes before the slot and the status
// line too, for the whole dial timeout).
func TestWaitHookBeforeAPendingDial(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "answer") }))
	defer s.Close()
	release := make(chan struct{})
	var d net.Dialer
	h := newHTTP(nil, func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return d.DialContext(ctx, network, addr)
	})
	defer h.Close()
	ctx := bounded(t)
	req := &Request{Endpoint: s.URL + "/slow-dial", Header: http.Header{"X-Request-Id": {"dial"}}}
	if !h.Presend(ctx, req) {
		t.Fatal("not sent ahead")
	}
	hooked := make(chan struct{})
	done := make(chan string, 1)
	go func() {
		_, body, err := fetchAll(WithWaitHook(ctx, func() error {
			select {
			case <-hooked:
			default:
				close(hooked)
			}
			return nil
		}), h, req)
		if err != nil {
			body = err.Error()
		}
		done <- body
	}()
	select {
	case <-hooked:
	case <-time.After(5 * time.Second): // a bound, not a claim
		t.Error("the Fetch waits for its dial without calling the wait hook")
	}
	close(release)
	if got := <-done; got != "answer" {
		t.Errorf("Fetch: %q", got)
	}
}

// A fragment whose deadline passes while its head is still coming (a few
// bytes at a time) fails with its deadline, not as a malformed answer: an
// outside attack saw a slow fragment logged as "malformed HTTP response"
// and a required one answered 502 instead of 504.
func TestAHeadCutByTheDeadlineIsATimeout(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	for _, ahead := range []bool{false, true} {
		ctx, cancel := context.WithCancelCause(context.Background())
		stop := time.AfterFunc(150*time.Millisecond, func() { cancel(context.DeadlineExceeded) })
		req := &Request{Endpoint: s.URL + "/slow-head", Header: http.Header{"X-Request-Id": {"slow"}}}
		if ahead && !h.Presend(ctx, req) {
			t.Fatal("not sent ahead")
		}
		_, _, err := fetchAll(ctx, h, req)
		stop.Stop()
		cancel(nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("sent ahead %v: %v, want the deadline", ahead, err)
		}
	}
}

// A page that reads an answer later than it came learns when it came
// (Response.Arrived, the kernel's receive time): the fragment's own time,
// apart from the page's waiting (an outside attack found a fast fragment
// behind a slow one reported at the slow one's latency in the metrics
// and the debug view).
func TestAnAnswerReadLateSaysWhenItCame(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("receive times are taken on Linux")
	}
	answered := make(chan struct{}, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "answer")
		w.(http.Flusher).Flush()
		answered <- struct{}{}
	}))
	defer s.Close()
	h := NewHTTP()
	defer h.Close()
	ctx := bounded(t)
	// Twice, the second looked at: Linux turns its receive stamps on a
	// moment after the first socket asks for them.
	for i := range 2 {
		req := &Request{Endpoint: s.URL + "/late", Header: http.Header{"X-Request-Id": {"late"}}}
		if !h.Presend(ctx, req) {
			t.Fatal("not sent ahead")
		}
		<-answered
		time.Sleep(50 * time.Millisecond) // the page is busy elsewhere
		read := time.Now()
		resp, err := h.Fetch(WithWaitHook(ctx, func() error { return nil }), req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i == 1 && (resp.Arrived.IsZero() || !resp.Arrived.Before(read)) {
			t.Errorf("an answer that came before its Fetch began (%v): Arrived %v", read.Format(time.StampMicro), resp.Arrived.Format(time.StampMicro))
		}
	}
}

// An endpoint that has sent bytes nobody asked for (a second answer after
// its answer, on a kept connection) loses keep-alive for a while: its next
// requests get connections of their own, so that a late stray answer
// cannot be taken for another request's, and cascade to the requests
// after it (an outside attack mixed 655 of 1,500 pages so, other
// visitors' fragments among them). The first stray is caught on the idle
// connection; without the quarantine, the next connection would be kept
// and reused.
func TestAnEndpointThatSendsStrayAnswersIsNotKept(t *testing.T) {
	var once sync.Once
	strayed := make(chan struct{})
	s, conns := countedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if !first {
			io.WriteString(w, "answer to "+r.URL.Path)
			return
		}
		c, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		body := "answer to " + r.URL.Path
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		buf.Flush()
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
		close(strayed)
		<-r.Context().Done()
		c.Close()
	}))
	h := NewHTTP()
	defer h.Close()
	for i := range 4 {
		path := fmt.Sprintf("/%d", i)
		if status, body, err := confGet(h, s.URL+path); err != nil || status != 200 || body != "answer to "+path {
			t.Fatalf("%s: %d %q %v", path, status, body, err)
		}
		if i == 0 {
			<-strayed // on the idle connection: the next request finds it
			time.Sleep(20 * time.Millisecond)
		}
	}
	// /0 on the first connection; /1 finds its stray answer and dials;
	// /2 and /3 are not kept either.
	if got := conns.Load(); got != 4 {
		t.Errorf("after a stray answer: %d connections for 4 requests, want 4 (none kept)", got)
	}
}

// doneCounting is a context that counts the calls of its Done: a
// registration on it (context.AfterFunc, a child context) makes one.
type doneCounting struct {
	context.Context
	calls *atomic.Int64
}

func (c doneCounting) Done() <-chan struct{} {
	c.calls.Add(1)
	return c.Context.Done()
}

// testEnder is an Ender that keeps what it is given, for the test to run.
type testEnder struct {
	mu    sync.Mutex
	given int
	f     func()
}

func (e *testEnder) AfterEnd(f func()) Stopper {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.given++
	e.f = f
	return StopFunc(func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		stopped := e.f != nil
		e.f = nil
		return stopped
	})
}

func (e *testEnder) end() {
	e.mu.Lock()
	f := e.f
	e.f = nil
	e.mu.Unlock()
	if f != nil {
		f()
	}
}

// A reader that knows when its request's context ends (a page, for the
// fragments it reads on its own goroutine) is asked to cut the read then,
// and the wire registers nothing on the context: old code registered with
// context.AfterFunc on every answer, a child context, a map of children
// and a channel, held while the page waits. Its cut ends a read that
// waits; the connection of an answer read to its end is kept. A context
// derived from the one given (a layer's own) is not the Ender's: the wire
// registers on it.
func TestAnEnderStandsInForTheContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newRawServer(t, func(c net.Conn, r *http.Request, no int64) bool {
		if r.URL.Path == "/held" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf ")
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			return false
		}
		return writeAnswer(c, r.URL.Path) == nil
	})
	t.Cleanup(func() { close(release) })
	h := newClient(t)
	var calls atomic.Int64
	base := doneCounting{bounded(t), &calls}
	get := func(ctx context.Context, path string) (string, error) {
		resp, err := h.Fetch(ctx, &Request{Endpoint: s.url + path, Header: http.Header{}})
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	// A connection first: a dial registers on its context (as it must, to
	// be cut short).
	if body, err := get(bounded(t), "/warm"); err != nil || body != answer("/warm") {
		t.Fatalf("warm: %q, %v", body, err)
	}
	for i := range 2 {
		e := &testEnder{}
		ctx := WithWaits(base, &Waits{End: e})
		if body, err := get(ctx, "/a"); err != nil || body != answer("/a") {
			t.Fatalf("fetch %d: %q, %v", i, body, err)
		}
		if e.given != 1 {
			t.Errorf("fetch %d: the Ender was given %d cuts, want 1", i, e.given)
		}
		if e.f != nil {
			t.Errorf("fetch %d: the cut was not taken back once the body was read", i)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the context's Done was called %d times: something was registered on it", n)
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections for three answers read to their ends, want 1", n)
	}

	// cutRead fetches /held with ctx, reads its body on a goroutine, runs
	// cut, and wants the read to end with an error.
	cutRead := func(ctx context.Context, what string, cut func()) {
		t.Helper()
		resp, err := h.Fetch(ctx, &Request{Endpoint: s.url + "/held", Header: http.Header{}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		read := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(resp.Body)
			read <- err
		}()
		cut()
		select {
		case err := <-read:
			if err == nil {
				t.Errorf("%s: the read ended without an error", what)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not end the read", what)
		}
	}

	// The Ender's cut ends a read that waits.
	e := &testEnder{}
	cutRead(WithWaits(base, &Waits{End: e}), "the Ender's cut", func() {
		time.Sleep(50 * time.Millisecond) // the read waits (if it has not yet, the cut still ends it)
		e.end()
	})

	// A context derived from the Ender's is not the Ender's.
	other := &testEnder{}
	derived, cancel := context.WithCancel(WithWaits(bounded(t), &Waits{End: other}))
	cutRead(derived, "the derived context's cancellation", func() {
		if other.given != 0 {
			t.Errorf("the Ender of another context was given %d cuts", other.given)
		}
		cancel()
	})
}

// A page gives every fragment's Waits with its context: the context is
// the Waits itself, no allocation, and it is its parent in all else: its
// cancellation, its cause, its values, and a context derived from it
// ends with it.
func TestWithWaitsCostsNoAllocation(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), waitHookKey{}, "not this one"))
	var w Waits
	if allocs := testing.AllocsPerRun(100, func() { _ = WithWaits(parent, &w) }); allocs != 0 {
		t.Errorf("%v allocations, want none", allocs)
	}
	ctx := WithWaits(parent, &w)
	if hook, end := waits(ctx); hook != nil || end != nil {
		t.Errorf("waits of an empty Waits: %v %v", hook != nil, end != nil)
	}
	if v, _ := ctx.Value(waitHookKey{}).(*Waits); v != &w {
		t.Errorf("the context's Waits is %p, want %p", v, &w)
	}
	derived, stop := context.WithCancel(ctx)
	defer stop()
	cause := errors.New("the page ended")
	cancel(cause)
	for _, c := range []context.Context{ctx, derived} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the parent's end did not reach the context")
		}
		if c.Err() != context.Canceled || context.Cause(c) != cause {
			t.Errorf("err %v, cause %v: want the parent's", c.Err(), context.Cause(c))
		}
	}
}
