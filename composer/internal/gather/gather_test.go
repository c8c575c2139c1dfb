package gather_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/gather"
)

// safety bounds waits for things that must happen; never a timing claim.
const safety = 20 * time.Second

// serve runs h as the composer does: on a gathering listener.
func serve(t *testing.T, h http.HandlerFunc) (*http.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnContext: gather.ConnContext}
	go srv.Serve(gather.Listener{Listener: l})
	t.Cleanup(func() { srv.Close() })
	return srv, l.Addr().String()
}

// exchange sends a request on a new connection and reads until the server
// closes it.
func exchange(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, safety)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(safety))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("%v after %q", err, b)
	}
	return string(b)
}

// A handler that hijacks the connection gets it with what was held sent,
// in order, and its own writes go straight through.
func TestHijackSendsWhatIsHeld(t *testing.T) {
	t.Parallel()
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		gather.FromContext(r.Context()).Gather()
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "held,")
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			t.Error(err)
		}
		conn, _, err := rc.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "after")
	})
	got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasSuffix(got, "\r\n\r\nheld,after") {
		t.Errorf("got %q, want the held response, then the hijacker's bytes", got)
	}
}

// A file goes out by sendfile after what was held (the headers).
func TestFileAfterWhatIsHeld(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("a file's bytes\n", 10000)
	file := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		gather.FromContext(r.Context()).Gather()
		http.ServeFile(w, r, file)
	})
	got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != body {
		t.Errorf("file: %v, %d bytes, want %d", err, len(b), len(body))
	}
}

// Cutting the connections (http.Server.Close) does not wait for a client
// that reads nothing while its page's writes are held or being sent, and
// the page's next write fails.
func TestServerCloseDoesNotWaitForAClientThatDoesNotRead(t *testing.T) {
	t.Parallel()
	writing, failed := make(chan struct{}), make(chan error, 1)
	srv, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		gather.FromContext(r.Context()).Gather()
		chunk := bytes.Repeat([]byte("x"), 16<<10)
		for i := 0; ; i++ {
			if i == 64 {
				close(writing) // far more than socket buffers take
			}
			if _, err := w.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
	})
	conn, err := net.DialTimeout("tcp", addr, safety)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// and never reads
	select {
	case <-writing:
	case <-time.After(safety):
		t.Fatal("the page never wrote")
	}
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case <-closed:
	case <-time.After(safety):
		t.Fatal("http.Server.Close waited for the client")
	}
	select {
	case <-failed:
	case <-time.After(safety):
		t.Fatal("the page's writes went on after its connection was closed")
	}
}

// A response whose bytes are held ends on a kept connection: the next
// request on it is answered too.
func TestKeptConnectionGetsEveryEnd(t *testing.T) {
	t.Parallel()
	_, addr := serve(t, func(w http.ResponseWriter, r *http.Request) {
		gather.FromContext(r.Context()).Gather()
		io.WriteString(w, strings.Repeat("page ", 3000)+r.URL.Path)
	})
	conn, err := net.DialTimeout("tcp", addr, safety)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(safety))
	br := bufio.NewReader(conn)
	for _, path := range []string{"/first", "/second", "/third"} {
		io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.HasSuffix(string(b), path) {
			t.Fatalf("%s: %v, %d bytes", path, err, len(b))
		}
	}
}

// A write too large to hold goes out with what is held in one writev that
// allocates nothing: a page of large fragments makes one a flush.
func TestAWriteTooLargeToHoldAllocatesNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	raw, err := net.DialTimeout("tcp", l.Addr().String(), safety)
	if err != nil {
		t.Fatal(err)
	}
	c := &gather.Conn{Conn: raw}
	defer c.Close()
	c.Gather()
	small, large := []byte("held"), bytes.Repeat([]byte("x"), 20<<10)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(small); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(large); err != nil { // past maxHeld: out with what is held
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations a held write and a large one, want 0", allocs)
	}
}
