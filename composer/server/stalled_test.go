package server_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/gather"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
)

// smallSendBuffers gives each accepted connection a small send buffer, so
// that a visitor who does not read blocks the page's writes after a few
// KiB rather than the megabytes loopback would take.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// Connections that never read a large page hold every page slot of
// MaxPages; at the cap, their stalled writes get StalledWriteTimeout, not
// the 30 s WriteTimeout, so an ordinary visitor who comes back after the
// 503's Retry-After gets a page within a few tries. The stalled pages'
// fragments are not read to their end.
func TestStalledReadersDoNotHoldTheCap(t *testing.T) {
	t.Parallel()
	const safety = 20 * time.Second
	const stalled = 3
	var cut, reqs atomic.Int64
	chunk := []byte(strings.Repeat("<p>large fragment</p>", 1000))
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		if r.URL.Query().Get("small") != "" {
			w.Write([]byte("<p>small</p>"))
			return
		}
		// Bounded: 256 MiB, far more than the buffers between hold.
		for range (256 << 20) / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				cut.Add(1)
				return
			}
		}
	}))
	t.Cleanup(frag.Close)
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	reg := registry.New(map[string]registry.Entry{"big": {Endpoint: frag.URL, Timeout: time.Hour}})
	log := slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil))
	c := &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log, MaxFragmentBytes: 1 << 40}
	s := server.New(server.Options{Log: log, Composer: c, Registry: reg, MaxPages: stalled, WriteTimeout: 30 * time.Second})
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<p>head</p><micro-frontend id=big/><p>tail</p>`}))
	ts := httptest.NewUnstartedServer(s)
	// As the composer serves: pages gathered (package gather), their
	// writes held until a flush.
	ts.Listener = gather.Listener{Listener: smallSendBuffers{ts.Listener}}
	ts.Config.ConnContext = gather.ConnContext
	ts.Start()
	t.Cleanup(ts.Close)

	dial := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
		return err
	}}
	for i := range stalled {
		conn, err := dial.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET /?i=%d HTTP/1.1\r\nHost: composer\r\n\r\n", i)
		// and never reads
	}
	deadline := time.Now().Add(safety)
	for reqs.Load() < stalled {
		if time.Now().After(deadline) {
			t.Fatal("the stalled pages never asked their fragment")
		}
		time.Sleep(time.Millisecond)
	}

	// An ordinary visitor, who honours Retry-After: 1. With the old 30 s
	// hold, ten tries are all 503.
	client := &http.Client{Timeout: safety}
	var statuses []int
	for range 10 {
		resp, err := client.Get(ts.URL + "/?small=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == 200 {
			break
		}
		time.Sleep(time.Second)
	}
	if statuses[len(statuses)-1] != 200 {
		t.Fatalf("an ordinary visitor got %v, want a page within ten tries a second apart", statuses)
	}
	t.Logf("an ordinary visitor got %v", statuses)
	deadline = time.Now().Add(safety)
	for cut.Load() < stalled {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stalled pages' fragments were cut, want all: not read to their end", cut.Load(), stalled)
		}
		time.Sleep(time.Millisecond)
	}
}
