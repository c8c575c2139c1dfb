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

// wire is the client of plain-http fragments: net/http's own parser
// (http.ReadResponse: status line, headers, chunked and close-delimited
// bodies, trailers) on connections this client dials and pools itself, so
// that a request in flight costs only the goroutine that fetches it and an
// idle connection costs no goroutine at all. net/http's Transport keeps a
// reading and a writing goroutine for every connection, idle or not, and
// hands each request and answer between them.
//
// Without a reading goroutine nobody watches an idle connection, so one is
// looked at when it is taken from the pool (peek): a connection the server
// closed meanwhile, or one with bytes waiting that nobody asked for, is
// closed instead of used. A connection goes back to the pool only when its
// answer's body was read to its end, cleanly, with no byte after it; a
// request on a reused connection that fails before any byte of an answer
// came is sent again, once, on a new connection (the server closed it just
// as it was taken); one on a new connection never is.
//
// A request on a kept connection costs three system calls: the look
// (recvfrom with MSG_PEEK), the request's write, and, when the answer
// comes in one piece, one read. The write is made inside the wait for the
// answer (send, through the socket's syscall.RawConn), which clears the
// socket's readiness before the request leaves and then waits for the
// poller to see the answer arrive: the answer's first read finds it. A
// read straight after the write would, nearly always, find nothing yet,
// fail with EAGAIN and wait anyway: four system calls a request, and two
// read(2)s an answer where nginx, which waits for readiness first, makes
// one. A readiness the poller reports late, from before the write, ends
// the wait early: the read then finds nothing and waits as before (one
// call more, still correct). On a connection that is not the dialler's
// plain *net.TCPConn (a dialler that wraps it keeps its own Write), on a
// system that is not unix, or when the socket does not take the whole
// request at once, the request is written and read the usual way.
//
// A request sent ahead (Presend, ahead.go) is written at once, without
// the wait: its Fetch comes later, when the answer is often there already
// (one read), and otherwise reads as usual (a read that finds nothing,
// the wait, the read). Its Fetch reads the answer as exchange does after
// its write; a wait hook (WithWaitHook) makes the answer's reads go
// through the socket's RawConn, to call the hook before a wait.
//
// A context's deadline is the connection's deadline, and its cancellation
// (context.AfterFunc, which runs nothing until it fires) sets a deadline in
// the past, ending a blocked read or write at once. The errors name the
// context's cause (context.Cause): a caller that ends a context with
// context.DeadlineExceeded as its cause reads a timeout, not a cancel.
type wire struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu    sync.Mutex
	idle  map[string][]*wireConn // by address, most recently used last
	nidle int
	sweep *time.Timer // closes connections idle too long; nil while none is idle
	// sweepAt is when sweep fires next.
	sweepAt time.Time
	// stray holds the addresses that sent bytes nobody asked for, and
	// until when their connections are not kept (wireStrayFor); strikes,
	// how many times each was caught, and when last.
	stray   map[string]time.Time
	strikes map[string]strike

	looks atomic.Int64 // idle connections looked at before their use (get)

	// What PoolStats reports: connections dialled, requests on a pooled
	// connection, pooled connections found closed (or unusable) when
	// taken.
	dialled, reused, foundClosed atomic.Int64
	// dialsWaited counts the dials that waited their turn (goDial);
	// dialsLate, those of them that waited wireDialWait and went ahead on
	// goroutines of their own (overdue).
	dialsWaited, dialsLate atomic.Int64

	// The dials in flight and waiting, by address, and how long one waits
	// for a line (dials.go; wireDialWait).
	dialMu   sync.Mutex
	dials    map[string]*dialLine
	dialWait time.Duration
}

// The pool keeps what a burst used: a thousand pages of five fragments
// hold five thousand connections to one address at once, and a small cap
// closed all but 512 of them, to dial them again on the next burst (a
// goroutine, a handshake and garbage each). An idle connection costs the
// process about a kilobyte; it goes after wireIdleTimeout, or when its
// server closes it (get).
const (
	wireMaxIdle        = 16384
	wireMaxIdlePerHost = 8192
	wireIdleTimeout    = 90 * time.Second
	// wireSweepMin is the least time between two sweeps of the idle
	// connections: one goes at most this late.
	wireSweepMin = time.Second
	// wireIdleClosedAfter: a pooled connection found closed by its server
	// after this long idle may have been closed for its idleness, and so
	// the ones idle longer still: dropIdleSince finds them in a few looks.
	// One closed sooner (a server that ends a connection after so many
	// requests) goes alone.
	wireIdleClosedAfter = time.Second
	// wireStrayFor is how long an address that sent bytes nobody asked
	// for (an answer after the answer, on a kept connection) gets a
	// connection of its own for every request: a stray answer that came
	// after a connection was taken again would be read as that request's
	// answer, and the real one as the next's.
	wireStrayFor = time.Minute
	// An address caught again is blocked twice as long as the last time,
	// up to wireStrayMax, until it has gone wireStrayForget without being
	// caught: a server that goes on sending stray answers would otherwise
	// mix a few pages at every block's end.
	wireStrayMax    = time.Hour
	wireStrayForget = 24 * time.Hour
	// wireMaxHeaderBytes bounds what is read before an answer's body:
	// fragments are HTML with small headers, and a huge header block is a
	// broken or hostile fragment.
	wireMaxHeaderBytes = 64 << 10
	// wireReadBuffer takes a small fragment's whole answer in one read;
	// a body read into a bigger buffer skips it.
	wireReadBuffer = 4 << 10
)

// wireConn is one connection and what reads it.
type wireConn struct {
	c     net.Conn
	lr    limitReader
	br    *bufio.Reader // nil while idle: the buffer goes back to readers
	addr  string
	since time.Time // idle since

	abort func() // cancel, for context.AfterFunc (or a Waits' Ender)

	// The look at an idle connection (usable) and the request's write
	// (send, or writeAhead's), kept from one to the next.
	raw     syscall.RawConn
	peekFD  func(fd uintptr) bool
	peekBuf [1]byte
	quiet   bool
	// strayByte: the last look found a byte on the idle connection.
	strayByte bool
	sendFD    func(fd uintptr) bool
	writeFD   func(fd uintptr) bool
	sendHead  []byte // what is left to write
	sendErr   error
	sent      bool

	// The time the answer's first bytes came, taken by the kernel
	// (enableStamps, readStamped) for a request sent ahead and read by a
	// page: stamp asks it of the next read.
	stampsOn bool
	stamp    bool
	arrived  time.Time
	oob      [32]byte
	msg      recvMsg // readStamped's message header (Linux)

	// A wait for the answer that holds no read buffer (awaitAnswer).
	awaitFD func(fd uintptr) bool
	awaited bool

	// A read that calls the wait hook (readHooked).
	readFD  func(fd uintptr) bool
	readBuf []byte
	readN   int
	readErr error
	hooked  bool
}

// newWireConn is a connection just dialled.
func newWireConn(c net.Conn, addr string) *wireConn {
	pc := &wireConn{c: c, addr: addr}
	pc.lr.c, pc.lr.pc = c, pc
	pc.abort = pc.cancel // once: a method value costs an allocation
	return pc
}

// limitReader reads the connection, at most n bytes (the header block's
// limit) until n is set to noLimit, and counts what it read. With a wait
// hook (WithWaitHook), it reads through the socket (readHooked) so as to
// call the hook before a wait; the hook's error stays, for every read of
// that answer.
type limitReader struct {
	c       net.Conn
	pc      *wireConn
	n       int64
	read    int64
	hook    func() error
	hookErr error
	noWait  bool // a hooked read that finds nothing returns errWouldBlock
}

const noLimit = 1<<63 - 1

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if l.hookErr != nil {
		return 0, l.hookErr
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	var n int
	var err error
	if l.hook != nil {
		n, err = l.pc.readHooked(p)
	} else {
		n, err = l.c.Read(p)
	}
	l.n -= int64(n)
	l.read += int64(n)
	return n, err
}

var errHeaderTooLarge = fmt.Errorf("fragment's response headers exceed %d bytes", wireMaxHeaderBytes)

var readers = sync.Pool{New: func() any { readersMade.Add(1); return bufio.NewReaderSize(nil, wireReadBuffer) }}

// readersMade counts the read buffers made (for a test: how many a number
// of requests waiting for their answers holds).
var readersMade atomic.Int64

var heads = sync.Pool{New: func() any { headsMade.Add(1); b := make([]byte, 0, 1<<10); return &b }}

// putHead gives a head buffer back to the pool, unless it grew past 4
// KB (a visitor's cookies forwarded, tens of kilobytes): the pool would
// keep it, and hand requests of a few hundred bytes a buffer of sixty.
func putHead(hp *[]byte) {
	if cap(*hp) <= 4<<10 {
		heads.Put(hp)
	}
}

// headsMade counts the head buffers made (for a test: what requests
// waiting for their dials hold).
var headsMade atomic.Int64

// errRetry marks a failure on a reused connection before any byte of the
// answer: the request is sent again on a new one.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// target is a plain-http endpoint, parsed once: where to dial, and the
// parts of the request head that do not change from page to page.
type target struct {
	addr     string // host:port
	host     string // the Host header
	path     string // the request target without its query
	query    string // the endpoint's own query
	hasQuery bool   // the endpoint has a "?", even with nothing after it
}

// newTarget is u's target; u has no fragment.
func newTarget(u *url.URL) *target {
	t := &target{addr: u.Host, host: u.Host, query: u.RawQuery, hasQuery: u.ForceQuery || u.RawQuery != ""}
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), "80")
	}
	p := *u
	p.RawQuery, p.ForceQuery = "", false
	t.path = p.RequestURI()
	return t
}

// getRequest is what http.ReadResponse is told of every request: its
// method (no body to a HEAD), nothing else. Shared, never written.
var getRequest = &http.Request{Method: http.MethodGet}

// roundTrip sends GET t with req's query and headers and returns the
// answer, whose body reads the connection as the caller reads it.
// personal: a connection of its own, closed after this answer. ahead:
// the request sent by Presend, claimed by this Fetch; only its answer is
// read, unless it is to be sent again on a new connection.
func (w *wire) roundTrip(ctx context.Context, t *target, req *Request, personal bool, ahead *sentAhead) (*Response, error) {
	if ctx.Err() != nil {
		if ahead != nil {
			ahead.abandon()
		}
		return nil, context.Cause(ctx)
	}
	if ahead != nil {
		resp, again, err := w.fetchAhead(ctx, ahead, personal)
		if !again {
			return resp, err
		}
	}
	hp := heads.Get().(*[]byte)
	defer putHead(hp)
	head, err := appendHead((*hp)[:0], t, req, personal)
	*hp = head
	if err != nil {
		return nil, err
	}
	for fresh := personal || ahead != nil; ; fresh = true {
		var pc *wireConn
		if !fresh {
			pc = w.get(t.addr)
		}
		if pc == nil {
			fresh = true
			if pc, err = w.connect(ctx, t.addr); err != nil {
				return nil, err
			}
		}
		resp, err := w.exchange(ctx, pc, head, false, personal)
		retry, again := err.(errRetry)
		if again {
			err = retry.err
		}
		if err == nil || fresh || !again || ctx.Err() != nil {
			return resp, err
		}
	}
}

// connect dials addr, on a goroutine other than the caller's (goDial):
// dialling goes deep into the net package, and a goroutine's stack keeps
// the size it grew to, so the fetching goroutine would wait for its answer
// on 8 KiB instead of 4 (five thousand of them at a thousand pages;
// stack_test.go). A dial waiting its turn is waited for until ctx ends,
// no longer: once the caller has gone, the dial, when it runs, closes what
// it dialled. A closure and a channel a dial; a pooled connection dials
// once.
func (w *wire) connect(ctx context.Context, addr string) (*wireConn, error) {
	d := &dialed{ready: make(chan struct{})}
	w.goDial(addr, func() {
		c, err := w.dial(ctx, "tcp", addr)
		d.mu.Lock()
		gone := d.gone
		if !gone {
			d.c, d.err = c, err
			close(d.ready)
		}
		d.mu.Unlock()
		if gone && c != nil {
			c.Close()
		}
	})
	select {
	case <-d.ready:
	case <-ctx.Done():
		d.mu.Lock()
		select {
		case <-d.ready: // dialled meanwhile: taken as if first
		default:
			d.gone = true
		}
		d.mu.Unlock()
		if d.gone {
			return nil, context.Cause(ctx)
		}
	}
	c, err := d.c, d.err
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, err
	}
	w.dialled.Add(1)
	return newWireConn(c, addr), nil
}

// dialed is a dial's outcome, handed from goDial's goroutine to connect.
type dialed struct {
	ready chan struct{} // closed once c and err are set
	mu    sync.Mutex
	gone  bool // connect returned without it: the dial closes what it dialled
	c     net.Conn
	err   error
}

// cancel ends a blocked read or write on the connection at once.
func (pc *wireConn) cancel() { pc.c.SetDeadline(aLongTimeAgo) }

// exchange writes head on pc and reads the answer's header block. ahead:
// the request was sent by Presend, and head is what the socket did not
// take then (nearly always nothing).
func (w *wire) exchange(ctx context.Context, pc *wireConn, head []byte, ahead, personal bool) (*Response, error) {
	pc.lr.n, pc.lr.read = wireMaxHeaderBytes, 0
	hook, end := waits(ctx)
	pc.lr.hook, pc.lr.hookErr = hook, nil
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		pc.c.SetDeadline(deadline)
	}
	// Set after the deadline, so that a cancellation is never undone.
	stop := afterEnd(ctx, end, pc.abort)
	if ahead {
		if len(head) > 0 {
			if _, err := pc.c.Write(head); err != nil {
				return pc.fail(ctx, stop, err)
			}
		}
	} else if err := pc.send(head); err != nil {
		return pc.fail(ctx, stop, err)
	}
	// On a TCP socket send returns once the answer can be read: the read
	// buffer is taken now, so a request waiting for its answer holds none
	// (one sent ahead, none until its Fetch, nor while its Fetch waits:
	// takeReader).
	pc.stamp, pc.arrived = ahead && pc.lr.hook != nil && pc.stampsOn, time.Time{}
	if err := pc.takeReader(ahead); err != nil {
		return pc.fail(ctx, stop, err)
	}
	return w.readAnswer(ctx, pc, stop, hasDeadline, personal)
}

// fail ends an exchange that failed: the connection is closed, and the
// error says whether the context ended it and whether the request may be
// sent again.
//
//go:noinline
func (pc *wireConn) fail(ctx context.Context, stop Stopper, err error) (*Response, error) {
	stop.Stop()
	pc.c.Close()
	if pc.br != nil {
		pc.br = nil // may hold a part of the answer: not handed out again
	}
	if pc.lr.hookErr != nil {
		return nil, pc.lr.hookErr // the caller's, never sent again
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
		// The context's deadline, or its cancellation; also when the
		// cut read left a part of a head that the parser named
		// malformed.
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("%w: %w", cause, err)
		}
		return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	if pc.lr.read == 0 {
		// Not one byte of an answer: the server closed the connection
		// as it was taken (or refused it); on a reused connection, the
		// request is sent again.
		return nil, errRetry{err}
	}
	return nil, err
}

// readAnswer reads the answer's head, once it can be read. It is a frame
// of its own, not exchange's: exchange's is on the stack of a page that
// waits for the answer (stream's TestAPageFitsAStackOf8KiB).
//
//go:noinline
func (w *wire) readAnswer(ctx context.Context, pc *wireConn, stop Stopper, hasDeadline, personal bool) (*Response, error) {
	// One allocation for the answer and its body.
	a := &wireAnswer{}
	if status, header, closing, ok := a.quick.quickHead(pc.br); ok {
		pc.lr.n = noLimit
		a.resp = Response{Status: status, Header: header, Arrived: pc.arrived}
		a.body = wireBody{w: w, pc: pc, inner: a.quick.body, stop: stop, ctx: ctx, hasDeadline: hasDeadline, keep: !personal && !closing}
		a.resp.Body = &a.body
		if a.quick.body == &a.quick.cl && a.quick.cl.n == 0 {
			a.body.end()
		}
		return &a.resp, nil
	}
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(pc.br, getRequest)
		if err != nil {
			if errors.Is(err, errHeaderTooLarge) {
				err = errHeaderTooLarge
			}
			return pc.fail(ctx, stop, err)
		}
		// 1xx answers (100 Continue, 103 Early Hints) come before the
		// final one and have no body; a 101 to a GET that asked for no
		// upgrade is a broken server.
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return pc.fail(ctx, stop, errors.New("fragment answered 101 Switching Protocols to a request that asked for no upgrade"))
		}
	}
	pc.lr.n = noLimit
	a.resp = Response{Status: resp.StatusCode, Header: resp.Header, Arrived: pc.arrived}
	a.body = wireBody{w: w, pc: pc, inner: resp.Body, stop: stop, ctx: ctx, hasDeadline: hasDeadline, keep: !personal && !resp.Close}
	a.resp.Body = &a.body
	if resp.Body == http.NoBody {
		a.body.end()
	}
	return &a.resp, nil
}

type wireAnswer struct {
	resp  Response
	body  wireBody
	quick quickBody
}

// takeReader gives pc its read buffer for the answer. A request sent
// ahead and read with a wait hook (a page's) may find no answer yet: its
// first read, made without waiting, then gives the buffer back, the wait
// (the hook first) holds none, and the buffer is taken again once the
// answer can be read. No system call more than a read that waits.
func (pc *wireConn) takeReader(ahead bool) error {
	pc.br = readers.Get().(*bufio.Reader)
	pc.br.Reset(&pc.lr)
	if !ahead || pc.lr.hook == nil || !pc.waitsBare() {
		return nil
	}
	if err := pc.peekNoWait(); err != errWouldBlock {
		return nil // read (or an error, which the head's read meets again)
	}
	pc.br.Reset(nil)
	readers.Put(pc.br)
	pc.br = nil
	if err := pc.awaitAnswer(); err != nil {
		return err
	}
	pc.br = readers.Get().(*bufio.Reader)
	pc.br.Reset(&pc.lr)
	return nil
}

// peekNoWait reads what is there without waiting: errWouldBlock if
// nothing is. A frame of its own, gone before the wait (see readAnswer).
//
//go:noinline
func (pc *wireConn) peekNoWait() error {
	pc.lr.noWait = true
	_, err := pc.br.Peek(1)
	pc.lr.noWait = false
	return err
}

// errWouldBlock is a read made without waiting (limitReader.noWait) that
// found nothing.
var errWouldBlock = errors.New("fetch: no answer yet")

// aLongTimeAgo is a deadline that has passed: a blocked read or write on
// the connection returns at once.
var aLongTimeAgo = time.Unix(1, 0)

// wireBody is an answer's body: it reads the connection, and gives it
// back to the pool once read to its end.
type wireBody struct {
	w           *wire
	inner       io.Reader
	stop        Stopper // the context's AfterFunc (afterEnd)
	ctx         context.Context
	hasDeadline bool
	keep        bool // may go back to the pool

	mu  sync.Mutex
	pc  *wireConn // nil once given back or closed
	err error     // what Read returns once pc is nil
}

func (b *wireBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	pc := b.pc
	err := b.err
	b.mu.Unlock()
	if pc == nil {
		return 0, err
	}
	n, err := b.inner.Read(p)
	if err == nil {
		return n, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pc == nil {
		return n, b.err // closed meanwhile
	}
	if err == io.EOF {
		b.endLocked()
		return n, io.EOF
	}
	b.pc.c.Close()
	hookErr := b.pc.lr.hookErr
	b.pc = nil
	b.stop.Stop()
	if hookErr != nil {
		err = hookErr // the caller's, as it gave it
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := context.Cause(b.ctx); cerr != nil {
			err = fmt.Errorf("%w: %w", cerr, err)
		} else {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
	}
	b.err = err
	return n, err
}

// end is the body read to its end.
func (b *wireBody) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endLocked()
}

func (b *wireBody) endLocked() {
	pc := b.pc
	b.pc, b.err = nil, io.EOF
	// Back to the pool only if the context's AfterFunc will never run and
	// no byte came after the answer (a second answer nobody asked for).
	if !b.stop.Stop() || !b.keep || pc.br.Buffered() > 0 {
		if pc.br.Buffered() > 0 {
			b.w.strayFrom(pc.addr) // an answer after the answer
		}
		pc.c.Close()
		return
	}
	if b.hasDeadline {
		pc.c.SetDeadline(time.Time{})
	}
	pc.br.Reset(nil)
	readers.Put(pc.br)
	pc.br = nil
	pc.lr.hook = nil
	b.w.put(pc)
}

// Close closes the connection unless the body was read to its end: what
// is left of it is not worth waiting for.
func (b *wireBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pc != nil {
		b.pc.c.Close() // ends a Read in another goroutine
		b.pc = nil
		b.stop.Stop()
		b.err = errBodyClosed
	}
	return nil
}

var errBodyClosed = errors.New("read on a closed fragment body")

// get takes the most recently used idle connection to addr that is still
// open and has nothing waiting on it, or nil.
func (w *wire) get(addr string) *wireConn {
	now := time.Now()
	for {
		w.mu.Lock()
		list := w.idle[addr]
		if len(list) == 0 {
			w.mu.Unlock()
			return nil
		}
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		w.idle[addr] = list[:len(list)-1]
		w.nidle--
		w.mu.Unlock()
		w.looks.Add(1)
		if now.Sub(pc.since) < wireIdleTimeout && pc.usable() {
			w.reused.Add(1)
			return pc
		}
		w.foundClosed.Add(1)
		pc.c.Close()
		if pc.strayByte {
			w.strayFrom(addr) // closes the others
		} else if now.Sub(pc.since) >= wireIdleClosedAfter {
			w.dropIdleSince(addr, pc.since)
		}
	}
}

// dropIdleSince closes addr's idle connections that its server closed
// for their idleness, found with a few looks, not one each: a server that
// closes idle connections closes every one idle longer than its limit,
// and the pool's list is in the order of their idleness (the longest
// first), so the dead ones are its first part. The oldest is looked at
// first: alive, the dead one found was closed for another reason (a
// worker restarting, a maximum age) and nothing else goes; dead, a binary
// search finds where the live ones begin, at log2 of the list's length in
// looks. What is closed is closed on a goroutine of its own: they may be
// thousands, and a fragment request is waiting.
func (w *wire) dropIdleSince(addr string, t time.Time) {
	w.mu.Lock()
	list := w.idle[addr]
	// Only the ones idle since before t (all of them, unless a connection
	// came back meanwhile).
	n := 0
	for n < len(list) && !list[n].since.After(t) {
		n++
	}
	stray := false
	alive := func(i int) bool {
		w.looks.Add(1)
		ok := list[i].usable()
		stray = stray || list[i].strayByte
		return ok
	}
	if n == 0 || alive(0) {
		w.mu.Unlock()
		return
	}
	// list[lo] is dead, list[hi] alive or past the end.
	lo, hi := 0, n
	for hi-lo > 1 && !stray {
		if mid := (lo + hi) / 2; alive(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if stray {
		// Bytes nobody asked for on an idle connection: the address's
		// connections all go (strayFrom), not only the dead ones.
		w.mu.Unlock()
		w.strayFrom(addr)
		return
	}
	old := append([]*wireConn(nil), list[:hi]...)
	if hi == len(list) {
		delete(w.idle, addr)
	} else {
		w.idle[addr] = append(list[:0], list[hi:]...)
		clear(list[len(list)-hi:])
	}
	w.nidle -= hi
	w.mu.Unlock()
	w.foundClosed.Add(int64(hi))
	go func() {
		for _, pc := range old {
			pc.c.Close()
		}
	}()
}

// strike is how many times an address was caught sending bytes nobody
// asked for, and when last.
type strike struct {
	n  int
	at time.Time
}

// strayFrom marks addr: it sent bytes nobody asked for, and its
// connections are not kept for wireStrayFor, twice that if it was caught
// before, and so on.
func (w *wire) strayFrom(addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stray == nil {
		w.stray, w.strikes = map[string]time.Time{}, map[string]strike{}
	}
	now := time.Now()
	if until, ok := w.stray[addr]; ok && now.Before(until) {
		// Caught again while blocked (its connections in flight): the
		// same strike.
		w.closeIdleTo(addr)
		return
	}
	k := w.strikes[addr]
	if now.Sub(k.at) > wireStrayForget {
		k.n = 0
	}
	block := wireStrayFor
	for i := 0; i < k.n && block < wireStrayMax; i++ {
		block *= 2
	}
	w.strikes[addr] = strike{n: k.n + 1, at: now}
	w.stray[addr] = now.Add(min(block, wireStrayMax))
	w.closeIdleTo(addr)
}

// closeIdleTo closes addr's idle connections; w.mu is held.
func (w *wire) closeIdleTo(addr string) {
	for _, pc := range w.idle[addr] {
		pc.c.Close()
	}
	w.nidle -= len(w.idle[addr])
	delete(w.idle, addr)
}

// keeps reports whether addr's connections may be kept; w.mu is held.
func (w *wire) keeps(addr string) bool {
	until, ok := w.stray[addr]
	if !ok {
		return true
	}
	if time.Now().Before(until) {
		return false
	}
	delete(w.stray, addr)
	return true
}

// put gives pc back to the pool, or closes it when the pool is full.
func (w *wire) put(pc *wireConn) {
	w.mu.Lock()
	// Taken under the lock: the list stays in the order of its
	// connections' idleness, which the sweep and dropIdleSince rely on.
	pc.since = time.Now()
	if w.nidle >= wireMaxIdle || len(w.idle[pc.addr]) >= wireMaxIdlePerHost || !w.keeps(pc.addr) {
		w.mu.Unlock()
		pc.c.Close()
		return
	}
	if w.idle == nil {
		w.idle = map[string][]*wireConn{}
	}
	w.idle[pc.addr] = append(w.idle[pc.addr], pc)
	w.nidle++
	if w.sweep == nil {
		w.sweepAt = pc.since.Add(wireIdleTimeout)
		w.sweep = time.AfterFunc(wireIdleTimeout, w.closeStale)
	}
	w.mu.Unlock()
}

// closeStale closes the connections idle longer than wireIdleTimeout; it
// runs while any connection is idle, next when the oldest left turns
// stale (at least wireSweepMin later).
func (w *wire) closeStale() {
	now := time.Now()
	cutoff := now.Add(-wireIdleTimeout)
	var stale []*wireConn
	var oldest time.Time
	w.mu.Lock()
	for addr, list := range w.idle {
		// Oldest first: the least recently used are at the bottom.
		i := 0
		for i < len(list) && list[i].since.Before(cutoff) {
			stale = append(stale, list[i])
			i++
		}
		// The oldest kept, looked at before the list moves down.
		if i < len(list) && (oldest.IsZero() || list[i].since.Before(oldest)) {
			oldest = list[i].since
		}
		if i == len(list) {
			delete(w.idle, addr)
		} else if i > 0 {
			w.idle[addr] = append(list[:0], list[i:]...)
			clear(list[len(list)-i:])
		}
		w.nidle -= i
	}
	switch {
	case w.sweep == nil:
		// Closed meanwhile (closeIdle).
	case w.nidle > 0 && !oldest.IsZero():
		w.sweepAt = oldest.Add(wireIdleTimeout)
		if soonest := now.Add(wireSweepMin); w.sweepAt.Before(soonest) {
			w.sweepAt = soonest
		}
		w.sweep.Reset(w.sweepAt.Sub(now))
	case w.nidle > 0:
		w.sweepAt = now.Add(wireIdleTimeout)
		w.sweep.Reset(wireIdleTimeout)
	default:
		w.sweep = nil
	}
	w.mu.Unlock()
	for _, pc := range stale {
		pc.c.Close()
	}
}

// closeIdle closes every idle connection.
func (w *wire) closeIdle() {
	w.mu.Lock()
	idle := w.idle
	w.idle, w.nidle = nil, 0
	if w.sweep != nil {
		w.sweep.Stop()
		w.sweep = nil
	}
	w.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.c.Close()
		}
	}
}

// appendHead appends the request head of GET t?query to b, req's query:
// the request line, Host, req's Header (one line per value), its Slot
// and, for a connection of its own, Connection: close. A header name or
// value that could end the line or the head early is refused, as
// net/http's Transport refuses it.
func appendHead(b []byte, t *target, req *Request, personal bool) ([]byte, error) {
	query, hdr := req.RawQuery, req.Header
	b = append(b, "GET "...)
	b = append(b, t.path...)
	switch {
	case t.query != "" && query != "":
		b = append(b, '?')
		b = append(b, t.query...)
		b = append(b, '&')
		b = append(b, query...)
	case t.hasQuery && query != "":
		b = append(b, "?&"...) // as the endpoint's "?" followed by "&" and the query
		b = append(b, query...)
	case t.hasQuery:
		b = append(b, '?')
		b = append(b, t.query...)
	case query != "":
		b = append(b, '?')
		b = append(b, query...)
	}
	if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
		return b, fmt.Errorf("build request: invalid query %q", query)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\n"...)
	for name, values := range hdr {
		if !validHeaderName(name) {
			return b, fmt.Errorf("invalid header field name %q", name)
		}
		for _, v := range values {
			v = trimOWS(v)
			if !validHeaderValue(v) {
				return b, fmt.Errorf("invalid header field value for %q", name)
			}
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if req.Slot != "" {
		if !validHeaderValue(req.Slot) {
			return b, fmt.Errorf("invalid header field value for %q", SlotHeader)
		}
		b = append(b, SlotHeader+": "...)
		b = append(b, req.Slot...)
		b = append(b, "\r\n"...)
	}
	if personal {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// validHeaderName reports whether name is an HTTP token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v holds no control character but
// horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
