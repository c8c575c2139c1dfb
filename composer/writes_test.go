//go:build linux

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/procio"

	"github.com/andybalholm/brotli"

	"github.com/ssr-mfe/composer/composer/internal/logbuf"
)

// childEnv makes this test binary, run again, a composer (run) whose
// write system calls the test counts from outside: its clients and
// fragment servers are the test's process, its logs stay in memory.
const childEnv = "COMPOSER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		childComposer()
		return
	}
	os.Exit(m.Run())
}

// childComposer runs the composer configured by its environment, prints
// its address once it listens, and stops when its standard input ends.
func childComposer() {
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"composer", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-log-format", "json"}, os.Getenv, io.Discard, logs)
	}()
	deadline := time.Now().Add(safety)
	for addr, admin := "", ""; addr == "" || admin == ""; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			fmt.Fprintf(os.Stderr, "run: %v\n%s", err, logs)
			os.Exit(1)
		default:
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "not listening:\n%s", logs)
			os.Exit(1)
		}
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				switch line.Msg {
				case "listening":
					addr = line.Addr
				case "admin listener":
					admin = line.Addr
				}
			}
		}
		if addr != "" && admin != "" {
			fmt.Println(addr)
			fmt.Println(admin)
		}
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "run: %v\n%s", err, logs)
		os.Exit(1)
	}
	os.Exit(0)
}

// child is a composer in a process of its own.
type child struct {
	addr  string
	admin string // its admin listener: /metrics, /debug/pprof/
	pid   int
}

// startChild runs childComposer with env added to this process's, until
// the test ends.
func startChild(t *testing.T, env map[string]string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("the composer's process: %v", err)
		}
	})
	out := bufio.NewReader(stdout)
	addr, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("the composer did not start: %v", err)
	}
	admin, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("the composer's admin listener did not start: %v", err)
	}
	return &child{addr: strings.TrimSpace(addr), admin: strings.TrimSpace(admin), pid: cmd.Process.Pid}
}

// writes is the child's write system calls so far (write, writev...).
func (c *child) writes(t *testing.T) int {
	t.Helper()
	_, writes, err := procio.Syscalls(strconv.Itoa(c.pid))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return writes
}

// words is n bytes of varied text: it compresses, not to nothing.
func words(n int, seed uint32) string {
	list := strings.Fields("river bytes page fragment stream composer browser socket header footer product review basket price cover author chapter index shelf")
	var b strings.Builder
	x := seed | 1
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteString(list[x%uint32(len(list))])
		if x%7 == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// pageConn is one kept connection to the composer, read with a deadline:
// a response whose end the composer holds back fails, it does not hang.
type pageConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialPage(t *testing.T, addr string) *pageConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, safety)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &pageConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// get asks for path and reads the whole response: its status, Location
// and decoded body, or the error that ended it.
func (pc *pageConn) get(path, encoding string) (status int, location, body string, err error) {
	pc.t.Helper()
	_ = pc.conn.SetDeadline(time.Now().Add(safety))
	req := "GET " + path + " HTTP/1.1\r\nHost: composer\r\n"
	if encoding != "" {
		req += "Accept-Encoding: " + encoding + "\r\n"
	}
	if _, err := io.WriteString(pc.conn, req+"\r\n"); err != nil {
		pc.t.Fatal(err)
	}
	resp, err := http.ReadResponse(pc.r, nil)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	switch ce := resp.Header.Get("Content-Encoding"); ce {
	case "gzip":
		if r, err = gzip.NewReader(r); err != nil {
			return resp.StatusCode, "", "", err
		}
	case "br":
		r = brotli.NewReader(r)
	case "":
	default:
		pc.t.Fatalf("Content-Encoding %q", ce)
	}
	if encoding != "" && resp.StatusCode == 200 && resp.Header.Get("Content-Encoding") != encoding {
		pc.t.Errorf("GET %s with Accept-Encoding %s: Content-Encoding %q", path, encoding, resp.Header.Get("Content-Encoding"))
	}
	b, err := io.ReadAll(r)
	if err == nil && encoding != "" {
		// The compressed stream ended: so must the response's body.
		_, err = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b), err
}

// fiveAnswers orders the answers of one five-fragment page.
type fiveAnswers struct {
	asked int           // requests come, under the test's lock
	all   chan struct{} // closed when the five have come
	sent  [5]chan struct{}
}

func newFiveAnswers() *fiveAnswers {
	p := &fiveAnswers{all: make(chan struct{})}
	for i := range p.sent {
		p.sent[i] = make(chan struct{})
	}
	return p
}

// A page goes to the browser's socket in one write a flush and one for
// its end (the rest of the page with the chunked terminator), however
// large: net/http would cut each at its 4 KiB buffer, and write the
// terminator on its own. Counted from outside, on a composer in a process
// of its own: the least of a few tries, since a try may pay a write now and
// then (the runtime's own wake-ups), not one a page. Every response is read
// whole, on one kept connection, so none is held back.
func TestPageWritesPerPage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a composer in a process of its own")
	}
	head, tail := "<!doctype html><title>writes</title><p>"+words(8<<10, 1), words(8<<10, 2)+"</p>"
	// Under the 16 KiB a connection holds, over net/http's 4 KiB buffer.
	static := "<!doctype html><title>static</title><p>" + words(12<<10, 3) + "</p>"
	fragment := "<p>" + words(2000, 4) + "</p>"
	// The five-fragment page's answers all come before the page reads its
	// first: the fragments answer once all five asked, the last slot first
	// (on loopback a write is in the composer's socket when it returns).
	// Otherwise a page that reached a slot before its answer came would
	// flush before waiting, as it should, and the count would vary with
	// the machine's load.
	var fiveMu sync.Mutex
	fivePages := map[string]*fiveAnswers{}
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/frag":
			w.Header().Set("Content-Length", strconv.Itoa(len(fragment)))
			io.WriteString(w, fragment)
		case "/five":
			slot, _ := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Mfe-Slot"), "s"))
			id := r.Header.Get("X-Request-Id")
			fiveMu.Lock()
			p := fivePages[id]
			if p == nil {
				p = newFiveAnswers()
				fivePages[id] = p
			}
			if p.asked++; p.asked == 5 {
				close(p.all)
			}
			fiveMu.Unlock()
			select {
			case <-p.all:
			case <-time.After(safety):
			}
			if slot < 4 {
				select {
				case <-p.sent[slot+1]:
				case <-time.After(safety):
				}
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(fragment)))
			io.WriteString(w, fragment)
			w.(http.Flusher).Flush()
			close(p.sent[slot])
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		case "/moved":
			http.Redirect(w, r, "/static", http.StatusFound)
		}
	}))
	t.Cleanup(frag.Close)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/static": "static.html", "/slot": "slot.html", "/five": "five.html", "/error": "failed.html", "/redirect": "redirect.html"}`)
	five := `<!doctype html><title>five</title><micro-frontend id="five"/><p>1</p><micro-frontend id="five"/><p>2</p><micro-frontend id="five"/><p>3</p><micro-frontend id="five"/><p>4</p><micro-frontend id="five"/>`
	writeFile(t, filepath.Join(dir, "five.html"), five)
	writeFile(t, filepath.Join(dir, "static.html"), static)
	writeFile(t, filepath.Join(dir, "slot.html"), head+`<micro-frontend id="frag"/>`+tail)
	writeFile(t, filepath.Join(dir, "failed.html"), `<p>error</p><micro-frontend id="fail" errorbehaviour="error"/>`)
	writeFile(t, filepath.Join(dir, "redirect.html"), `<p>redirect</p><micro-frontend id="moved" errorbehaviour="error"/>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"frag": %q, "five": %q, "fail": %q, "moved": %q}`, frag.URL+"/frag", frag.URL+"/five", frag.URL+"/fail", frag.URL+"/moved"))
	// One P: fewer of the runtime's wake-ups of its poller, each a write
	// to an eventfd, which the count would take for the page's.
	c := startChild(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_REFRESH": "1h", "GOMAXPROCS": "1",
		// The five fragments answer at once; a flush delay far longer than
		// that keeps a busy machine (or the race detector) from making a
		// fragment late enough for a flush at its boundary.
		"COMPOSER_FLUSH_DELAY": "1s"})

	const pages = 20
	for _, tt := range []struct {
		path, encoding string
		status         int
		body           string // "": not checked
		// writes is the most a page may cost: one for a fragment request,
		// one for the head's flush, one for the end.
		writes int
	}{
		{path: "/static", status: 200, body: static, writes: 1},
		{path: "/static", encoding: "gzip", status: 200, body: static, writes: 1},
		{path: "/static", encoding: "br", status: 200, body: static, writes: 1},
		{path: "/slot", status: 200, body: head + fragment + tail, writes: 3},
		{path: "/slot", encoding: "br", status: 200, body: head + fragment + tail, writes: 3},
		// Five fragments all answered before the page reads the first:
		// no flush at their boundaries (five requests, the head, the end).
		{path: "/five", status: 200, writes: 7},
		// 502, or 503 once the fragment's breaker is open (then not asked).
		{path: "/error", status: http.StatusBadGateway, writes: 2},
		{path: "/redirect", status: http.StatusFound, writes: 2},
	} {
		name := strings.TrimPrefix(tt.path, "/") + "," + tt.encoding
		t.Run(name, func(t *testing.T) {
			pc := dialPage(t, c.addr)
			get := func() {
				status, location, body, err := pc.get(tt.path, tt.encoding)
				if err != nil {
					t.Fatalf("GET %s: %v", tt.path, err)
				}
				if status == http.StatusServiceUnavailable && tt.status == http.StatusBadGateway {
					status = tt.status
				}
				if status != tt.status || tt.body != "" && body != tt.body {
					t.Fatalf("GET %s: %d, %d bytes, want %d, %d bytes", tt.path, status, len(body), tt.status, len(tt.body))
				}
				if status == http.StatusFound && location != "/static" {
					t.Fatalf("GET %s: Location %q", tt.path, location)
				}
			}
			get() // dials the fragments: every page below reuses the connections
			best := 1 << 30
			for try := 0; try < 8 && best > pages*tt.writes; try++ {
				w0 := c.writes(t)
				for range pages {
					get()
				}
				best = min(best, c.writes(t)-w0)
			}
			t.Logf("%d pages on a kept connection: %d write system calls", pages, best)
			if best > pages*tt.writes+pages/4 {
				t.Errorf("%d pages made %d write system calls, want at most %d (%d a page)", pages, best, pages*tt.writes+pages/4, tt.writes)
			}
		})
	}
}

// A page whose end the composer gathers is always sent: a page aborted
// mid-body ends (cut, not held), and a browser gone mid-page ends its
// page and its fragment requests.
func TestGatheredPagesAreReleased(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a composer in a process of its own")
	}
	entered, hung := make(chan struct{}, 1), make(chan struct{}, 1)
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cut":
			w.Header().Set("Content-Length", "100000")
			io.WriteString(w, "<p>"+words(6000, 5))
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case "/hang":
			entered <- struct{}{}
			<-r.Context().Done()
			hung <- struct{}{}
		}
	}))
	t.Cleanup(frag.Close)
	dir := t.TempDir()
	head := "<!doctype html><title>cut</title><p>" + words(6<<10, 6) + "</p>"
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/abort": "abort.html", "/hang": "hang.html", "/plain": "plain.html"}`)
	writeFile(t, filepath.Join(dir, "plain.html"), head)
	writeFile(t, filepath.Join(dir, "abort.html"), head+`<micro-frontend id="cut" errorbehaviour="error"/><p>tail</p>`)
	writeFile(t, filepath.Join(dir, "hang.html"), head+`<micro-frontend id="hang" timeout="1h"/><p>tail</p>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"cut": %q, "hang": %q}`, frag.URL+"/cut", frag.URL+"/hang"))
	c := startChild(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_REFRESH": "1h"})

	for _, encoding := range []string{"", "gzip", "br"} {
		pc := dialPage(t, c.addr)
		status, _, body, err := pc.get("/abort", encoding)
		if err == nil || status != 200 || !strings.HasPrefix(body, head) {
			t.Errorf("aborted page (%q): %d, %v, %d bytes, want 200 cut after the head", encoding, status, err, len(body))
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("aborted page (%q): held back, not cut: %v", encoding, err)
		}
	}

	// A request whose body the page never reads (here one the client
	// holds back until told to continue): net/http's step after the
	// response is to read that body, so an end held for that step would
	// wait for the client, or for the read timeout.
	pc := dialPage(t, c.addr)
	if _, err := io.WriteString(pc.conn, "GET /plain HTTP/1.1\r\nHost: composer\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = pc.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(pc.r, nil); err != nil {
		t.Errorf("a page whose request body is not sent: %v", err)
	} else if body, err := io.ReadAll(resp.Body); err != nil || string(body) != head {
		t.Errorf("a page whose request body is not sent: %v after %d of %d bytes (its end held until the body comes)", err, len(body), len(head))
	}
	pc.conn.Close()

	pc = dialPage(t, c.addr)
	if _, err := io.WriteString(pc.conn, "GET /hang HTTP/1.1\r\nHost: composer\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = pc.conn.SetDeadline(time.Now().Add(safety))
	resp, err := http.ReadResponse(pc.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(head))
	if _, err := io.ReadFull(resp.Body, got); err != nil || !bytes.Equal(got, []byte(head)) {
		t.Fatalf("the page's head: %v %q", err, got)
	}
	select {
	case <-entered:
	case <-time.After(safety):
		t.Fatal("the page never asked its fragment")
	}
	pc.conn.Close()
	select {
	case <-hung:
	case <-time.After(safety):
		t.Fatal("the browser went away and its page's fragment request went on")
	}
}
