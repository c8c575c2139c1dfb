package breaker_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// The breaker judges the fragment, not the page: the time a fragment's
// answer waits because the composer is not reading it (the visitor's
// socket is full, an earlier slot is still streaming) is not the
// fragment's, and neither opens its breaker nor cuts it.

// smallBuffers wraps a listener so that each accepted connection has a
// small send buffer: a visitor that does not read blocks the page's writes
// after a few KiB instead of the megabytes loopback would take.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// composerOn serves src composed by a stream composer over e's breaker, on
// a loopback server whose connections have small send buffers.
func composerOn(t *testing.T, e *env, src string, obs stream.Observer) string {
	t.Helper()
	tpl, err := template.Compile("page.html", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := &stream.Composer{Fetch: e.tr, Registry: e.reg, Log: slog.New(slog.NewTextHandler(e.log, nil)), Observer: obs}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Serve(w, r, &stream.Page{Template: tpl, RequestID: "req"})
	}))
	s.Listener = smallBuffers{s.Listener}
	s.Start()
	t.Cleanup(s.Close)
	return s.URL
}

// (a) Visitors whose sockets never read a big page: the healthy fragment's
// body waits behind the full socket far beyond its deadline. Old code: each
// page counted a timeout, and five in a row opened the breaker.
func TestVisitorsThatDoNotReadDoNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	big := bytes.Repeat([]byte("<p>healthy fragment</p>\n"), size/24)
	frag := newServer(t, func(w http.ResponseWriter, _ *http.Request) { w.Write(big) })
	// A deadline a starved machine meets when the composer reads (-race,
	// two cores, other tests), far below the time the visitor holds the
	// page.
	e := newEnv(t, map[string]registry.Entry{"big": {Endpoint: frag.URL, Timeout: 400 * time.Millisecond}})
	obs := &outcomes{}
	url := composerOn(t, e, `<html><body><micro-frontend id="big">fallback</micro-frontend></body></html>`, obs)
	addr := strings.TrimPrefix(url, "http://")

	dial := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
		return err
	}}
	for i := range 2 * breaker.DefaultConsecutiveFailures {
		conn, err := dial.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /?i=%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		// Never read: wait well past the fragment's deadline while the
		// page's writes are blocked, then go away.
		time.Sleep(1200 * time.Millisecond)
		conn.Close()
		obs.waitN(t, i+1)
	}
	for _, o := range obs.list() {
		if o != "canceled" {
			t.Errorf("outcomes %v, want canceled only: the visitor went away, the fragment did nothing wrong", obs.list())
			break
		}
	}
	e.wantState("big", "", gobreaker.StateClosed)
	// An ordinary visitor gets the fragment.
	if resp, body := getPage(t, url); resp.StatusCode != 200 || !strings.Contains(body, string(big)) {
		t.Errorf("an ordinary visitor: %d, %d bytes, want the whole fragment", resp.StatusCode, len(body))
	}
}

// (b) A slow earlier fragment (within its timeout) and a later, instant one
// whose body is larger than the slot's queue: the later one answered at
// once and waits only for its turn. Old code: it timed out while it waited,
// the visitor got it cut, and five such pages opened its breaker.
func TestAnEarlierSlowSlotDoesNotTimeOutALaterOne(t *testing.T) {
	t.Parallel()
	slow := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(900 * time.Millisecond)
		io.WriteString(w, "<p>slow</p>")
	})
	body := strings.Repeat("<p>instant fragment</p>\n", (64<<10)/24) + "<p>the end</p>"
	instant := newServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })
	e := newEnv(t, map[string]registry.Entry{
		"slow":    {Endpoint: slow.URL, Timeout: 3 * time.Second},
		"instant": {Endpoint: instant.URL, Timeout: 300 * time.Millisecond}, // met on a starved machine, far below the slow one's 900 ms
	})
	obs := &outcomes{}
	url := composerOn(t, e, `<html><body><micro-frontend id="slow">s</micro-frontend><micro-frontend id="instant">i</micro-frontend></body></html>`, obs)
	for i := range 2 * breaker.DefaultConsecutiveFailures {
		resp, page := getPage(t, url)
		if resp.StatusCode != 200 || !strings.Contains(page, "<p>slow</p>") || !strings.Contains(page, body) {
			t.Fatalf("page %d: %d, %d bytes, want both fragments whole (outcomes %v)", i, resp.StatusCode, len(page), obs.list())
		}
	}
	obs.waitN(t, 4*breaker.DefaultConsecutiveFailures)
	for _, o := range obs.list() {
		if o != "ok" {
			t.Fatalf("outcomes %v, want ok only", obs.list())
		}
	}
	e.wantState("instant", "", gobreaker.StateClosed)
}

// The clock still runs while the composer waits on the fragment: a later
// fragment that sends a little and then stalls on its own times out while
// an earlier slot is still being written, and counts as its failure.
func TestALaterSlotThatStallsStillTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "<p>slow</p>")
	})
	stalling := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<p>a start")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	e := newEnv(t, map[string]registry.Entry{
		"slow":  {Endpoint: slow.URL, Timeout: time.Second},
		"stall": {Endpoint: stalling.URL, Timeout: 100 * time.Millisecond},
	})
	obs := &outcomes{}
	url := composerOn(t, e, `<html><body><micro-frontend id="slow">s</micro-frontend><micro-frontend id="stall">i</micro-frontend></body></html>`, obs)
	for range breaker.DefaultConsecutiveFailures {
		getPage(t, url)
	}
	obs.waitN(t, 2*breaker.DefaultConsecutiveFailures)
	got := map[string]int{}
	for _, o := range obs.list() {
		got[o]++
	}
	if got["ok"] != breaker.DefaultConsecutiveFailures || got["timeout"] != breaker.DefaultConsecutiveFailures {
		t.Errorf("outcomes %v, want the slow one ok and the stalling one timed out, each page", obs.list())
	}
	e.wantState("stall", "", gobreaker.StateOpen)
}

func (o *outcomes) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.all...)
}

func (o *outcomes) waitN(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for len(o.list()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d outcomes, want %d", len(o.list()), n)
		}
		time.Sleep(time.Millisecond)
	}
}
