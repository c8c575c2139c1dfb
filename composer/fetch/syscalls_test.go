//go:build linux

package fetch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/procio"
)

// syscallServerEnv makes this test binary, run again as a child, the
// fragment server of TestWireSyscallsPerRequest: its reads and writes are
// then not this process's.
const syscallServerEnv = "FETCH_TEST_SYSCALL_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(syscallServerEnv) != "" {
		syscallServer()
		return
	}
	code := m.Run()
	if presendEveryFetch {
		fmt.Printf("requests sent ahead: %d\n", sentAheadInFetch.Load())
	}
	os.Exit(code)
}

// syscallServer answers every request with 2 KB of HTML and a
// Content-Length (one write: head and body), prints its address, and ends
// when its standard input does.
func syscallServer() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	body := strings.Repeat("<p>fragment</p>", 140)
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	}))
	fmt.Println(l.Addr())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startSyscallServer runs syscallServer in a child process, until the
// test ends, and returns its URL.
func startSyscallServer(tb testing.TB) string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), syscallServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("the server did not start: %v", err)
	}
	return "http://" + strings.TrimSpace(addr)
}

// ioCounts is this process's read and write system calls so far (read,
// readv, write, writev...: recv and send with flags are not counted).
func ioCounts(tb testing.TB) (reads, writes int) {
	reads, writes, err := procio.Syscalls("self")
	if err != nil {
		tb.Skip(err)
	}
	return reads, writes
}

// A fragment request on a kept connection costs one write (the request)
// and, when the answer comes in one piece, one read: the client waits for
// the answer to be readable instead of trying a read that finds nothing
// yet. Counted on the client's side only (its server is another process),
// the least of a few tries: a try may pay an extra read now and then (a
// readiness left from an earlier answer, a scheduler's delay), not one a
// request.
func TestWireSyscallsPerRequest(t *testing.T) {
	url := startSyscallServer(t)
	h := NewHTTP()
	defer h.Close()
	req := &Request{Endpoint: url + "/f", RawQuery: "id=1", Header: http.Header{"Accept-Language": {"en"}}}
	fetch := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := h.Fetch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != 2100 {
			t.Fatalf("body: %d bytes, %v", n, err)
		}
		resp.Body.Close()
	}
	fetch() // dials: every request below reuses the connection

	const requests = 40
	bestReads, bestWrites := 1<<30, 1<<30
	for try := 0; try < 8 && (bestReads > requests || bestWrites > requests); try++ {
		r0, w0 := ioCounts(t)
		r1, w1 := ioCounts(t) // what reading the counts costs
		for range requests {
			fetch()
		}
		r2, w2 := ioCounts(t)
		bestReads = min(bestReads, (r2-r1)-(r1-r0))
		bestWrites = min(bestWrites, (w2-w1)-(w1-w0))
	}
	t.Logf("%d requests on a kept connection: %d reads, %d writes", requests, bestReads, bestWrites)
	// One read an answer, a few extra at most; reading first and waiting
	// after costs two.
	if bestReads > requests+requests/4 {
		t.Errorf("%d requests on a kept connection made %d read system calls, want at most %d (one an answer)", requests, bestReads, requests+requests/4)
	}
	if bestWrites > requests+requests/4 {
		t.Errorf("%d requests on a kept connection made %d write system calls, want at most %d (one a request)", requests, bestWrites, requests+requests/4)
	}
}

// BenchmarkWireKeptConnection is BenchmarkHTTPFetch with its server in
// another process: the client's cost alone: its read and write system
// calls, its CPU time (user and system, all its threads) and its context
// switches a request.
func BenchmarkWireKeptConnection(b *testing.B) {
	url := startSyscallServer(b)
	h := NewHTTP()
	defer h.Close()
	req := &Request{Endpoint: url + "/f", RawQuery: "id=1", Header: http.Header{"Accept-Language": {"en"}, "X-Request-Id": {"r"}}}
	b.ReportAllocs()
	r0, w0 := ioCounts(b)
	u0 := usage(b)
	fetchLoop(b, h, req)
	u1 := usage(b)
	r1, w1 := ioCounts(b)
	b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
	b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
	cpu := u1.Utime.Nano() + u1.Stime.Nano() - u0.Utime.Nano() - u0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(u1.Nvcsw+u1.Nivcsw-u0.Nvcsw-u0.Nivcsw)/float64(b.N), "ctxsw/op")
}

// usage is this process's resource usage so far.
func usage(tb testing.TB) syscall.Rusage {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		tb.Fatal(err)
	}
	return u
}

// A request sent ahead on a kept connection, its answer there when its
// Fetch (with a wait hook) reads it: one write (Presend's) and one read,
// through the socket's RawConn, no wait and no hook.
func TestWireSyscallsSentAhead(t *testing.T) {
	url := startSyscallServer(t)
	h := NewHTTP()
	defer h.Close()
	var hooked atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hctx := WithWaitHook(ctx, func() error { hooked.Add(1); return nil })
	fetch := func() {
		req := &Request{Endpoint: url + "/f", RawQuery: "id=1", Header: http.Header{"Accept-Language": {"en"}}}
		if !h.Presend(ctx, req) {
			t.Fatal("not sent ahead")
		}
		for end := time.Now().Add(10 * time.Second); !Answered(req); {
			if time.Now().After(end) {
				t.Fatal("no answer within 10 s")
			}
			runtime.Gosched()
		}
		resp, err := h.Fetch(hctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != 2100 {
			t.Fatalf("body: %d bytes, %v", n, err)
		}
		resp.Body.Close()
	}
	fetch() // dials
	const requests = 40
	bestReads, bestWrites := 1<<30, 1<<30
	for try := 0; try < 8 && (bestReads > requests || bestWrites > requests); try++ {
		r0, w0 := ioCounts(t)
		r1, w1 := ioCounts(t)
		for range requests {
			fetch()
		}
		r2, w2 := ioCounts(t)
		bestReads = min(bestReads, (r2-r1)-(r1-r0))
		bestWrites = min(bestWrites, (w2-w1)-(w1-w0))
	}
	t.Logf("%d requests sent ahead on a kept connection, read once answered: %d reads, %d writes, %d hook calls", requests, bestReads, bestWrites, hooked.Load())
	if bestReads > requests+requests/4 {
		t.Errorf("%d requests sent ahead made %d read system calls, want at most %d (one an answer)", requests, bestReads, requests+requests/4)
	}
	if bestWrites > requests+requests/4 {
		t.Errorf("%d requests sent ahead made %d write system calls, want at most %d (one a request)", requests, bestWrites, requests+requests/4)
	}
}
