package fetch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1 is a small HTTP/1.1 client for fragment GETs over plain HTTP, the
// common case inside a VPC. It keeps connections alive in a pool and reads
// each response in the goroutine that asked for it: no goroutines per
// connection (net/http's client keeps two), so a page costs fewer context
// switches and a thousand pages in flight fewer stacks. HTTPS endpoints go
// through net/http.
type h1 struct {
	dialer   net.Dialer
	maxIdle  int           // idle connections kept per host
	idleTime time.Duration // an idle connection older than this is closed

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host:port, most recent last
}

type h1Conn struct {
	net.Conn
	raw      syscall.RawConn // to wait for an answer without a buffer (nil: no such wait)
	br       *bufio.Reader   // only while a response is being read; nil when idle
	first    firstReader     // what br reads from, on Linux
	fill     func(fd uintptr) bool
	fillErr  error
	addr     string
	lastUsed time.Time
}

// readers holds the 4 KiB read buffers of connections. A connection takes
// one when its response starts to arrive and gives it back when the
// response is read or the connection closed, so the thousands of requests
// waiting for a slow fragment's first byte, and the idle connections in
// the pool, hold no buffer.
var readers = sync.Pool{New: func() any {
	readersMade.Add(1)
	return bufio.NewReaderSize(nil, 4<<10)
}}

// readersMade counts the buffers ever allocated (for tests; not on the
// per-request path).
var readersMade atomic.Int64

// takeReader gives the connection a read buffer.
func (cn *h1Conn) takeReader() {
	cn.br = readers.Get().(*bufio.Reader)
	cn.br.Reset(cn.Conn)
}

// drop closes the connection and gives its buffer back.
func (cn *h1Conn) drop() {
	cn.Close()
	cn.releaseReader()
}

func (cn *h1Conn) releaseReader() {
	if cn.br != nil {
		cn.br.Reset(nil)
		readers.Put(cn.br)
		cn.br = nil
	}
}

func newH1() *h1 {
	return &h1{
		dialer:  net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second},
		maxIdle: 512, idleTime: 90 * time.Second,
		idle: map[string][]*h1Conn{},
	}
}

func (c *h1) get(addr string) *h1Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		conns := c.idle[addr]
		if len(conns) == 0 {
			return nil
		}
		cn := conns[len(conns)-1]
		c.idle[addr] = conns[:len(conns)-1]
		if time.Since(cn.lastUsed) < c.idleTime {
			return cn
		}
		cn.Close()
	}
}

func (c *h1) put(cn *h1Conn) {
	cn.lastUsed = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle[cn.addr]) >= c.maxIdle {
		cn.Close()
		return
	}
	c.idle[cn.addr] = append(c.idle[cn.addr], cn)
}

// closeIdle closes every idle connection.
func (c *h1) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, conns := range c.idle {
		for _, cn := range conns {
			cn.Close()
		}
		delete(c.idle, addr)
	}
}

var longAgo = time.Unix(1, 0)

// do sends GET u with header and returns the response; its body must be
// closed. A request on a reused connection that the server had closed is
// retried once on a new one (a GET is safe to repeat).
func (c *h1) do(ctx context.Context, u *url.URL, header http.Header) (*Response, error) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	req := buildRequest(u, header)
	for attempt := 0; ; attempt++ {
		cn := c.get(addr)
		reused := cn != nil
		if cn == nil {
			conn, err := c.dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			cn = &h1Conn{Conn: conn, raw: rawConn(conn), addr: addr}
		}
		resp, err := c.roundTrip(ctx, cn, req)
		if err == nil {
			return resp, nil
		}
		if reused && attempt == 0 && ctx.Err() == nil && errors.Is(err, errStale) && !errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		return nil, err
	}
}

// errStale is a reused connection that failed before any response byte.
var errStale = errors.New("stale keep-alive connection")

func (c *h1) roundTrip(ctx context.Context, cn *h1Conn, req []byte) (*Response, error) {
	// Only reads get the fragment's deadline: a request head is far smaller
	// than a socket's send buffer, so its write does not block, and one
	// deadline is one timer update a request instead of four. (A pooled
	// connection keeps its last deadline; the next request sets its own.)
	d, _ := ctx.Deadline() // zero when none: no deadline
	_ = cn.SetReadDeadline(d)
	// The browser going away (or the page ending) interrupts a blocked read.
	stop := context.AfterFunc(ctx, func() { _ = cn.SetDeadline(longAgo) })
	fail := func(err error) (*Response, error) {
		stop()
		cn.drop()
		return nil, contextError(ctx, err)
	}
	if _, err := cn.Write(req); err != nil {
		return fail(fmt.Errorf("%w: %w", errStale, err))
	}
	// Wait for the answer without a buffer; take one when it arrives.
	if err := cn.awaitAnswer(); err != nil {
		return fail(fmt.Errorf("%w: %w", errStale, err))
	}
	if _, err := cn.br.Peek(1); err != nil {
		return fail(fmt.Errorf("%w: %w", errStale, err))
	}
	var resp *http.Response
	for {
		r, err := http.ReadResponse(cn.br, nil)
		if err != nil {
			return fail(err)
		}
		if r.StatusCode >= 100 && r.StatusCode < 200 && r.StatusCode != http.StatusSwitchingProtocols {
			continue // 103 Early Hints and the like: the answer follows
		}
		resp = r
		break
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// Not asked for (no Accept-Encoding is sent): bytes the page cannot use.
		return fail(fmt.Errorf("fragment answered with Content-Encoding %q", ce))
	}
	body := &h1Body{ctx: ctx, rc: resp.Body, cn: cn, c: c, stop: stop, reuse: !resp.Close && resp.ProtoAtLeast(1, 1)}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// buildRequest writes the request head once; it is the same for a retry.
func buildRequest(u *url.URL, header http.Header) []byte {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("GET ")
	b.WriteString(u.RequestURI())
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(u.Host)
	b.WriteString("\r\n")
	for k, vs := range header {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") || strings.ContainsAny(k, "\r\n: ") {
				continue // Headers already refuses these; never write them
			}
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// h1Body returns its connection to the pool once read to the end.
type h1Body struct {
	ctx   context.Context
	rc    io.ReadCloser
	cn    *h1Conn
	c     *h1
	stop  func() bool
	reuse bool
	done  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
		err = contextError(b.ctx, err)
	}
	return n, err
}

// contextError reports a connection's deadline as what set it: the
// fragment's deadline (context.DeadlineExceeded) or the page going away
// (context.Canceled), as net/http's client would.
func contextError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded
		}
	}
	return err
}

func (b *h1Body) Close() error {
	b.finish(false)
	return nil
}

// finish releases the connection: back to the pool after a whole body on
// a keep-alive connection whose context did not fire, closed otherwise.
func (b *h1Body) finish(whole bool) {
	if b.done {
		return
	}
	b.done = true
	stopped := b.stop()
	if whole && b.reuse && stopped && b.cn.br.Buffered() == 0 {
		b.cn.releaseReader()
		b.c.put(b.cn)
		return
	}
	b.cn.drop()
}
