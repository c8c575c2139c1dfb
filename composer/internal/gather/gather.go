// Package gather sends a page to the browser's socket in one write system
// call a flush, where net/http makes several: it cuts every write larger
// than its 4 KiB connection buffer in two, and writes the chunked
// terminator after the handler on its own.
//
// Data flow, for a page:
//
//	page writer: Gather --> net/http's writes to the connection --> held
//	page writer's flush: Release --> one write
//	handler returns --> net/http's end of the response --> held
//	net/http's next step (SetWriteDeadline, SetReadDeadline...) --> one write
//
// A connection gathers only while a page asks it to: every other response,
// and the connection once the page is over, go straight through.
package gather

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// maxHeld is the most a connection holds, the size of its buffer (a
// page's writer hands over 16 KiB at most at a time): a write that does
// not fit goes out at once, with what is held, in one writev, and nothing
// is copied or grown for it.
const maxHeld = 16 << 10

var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, maxHeld)
	return &b
}}

// Listener hands out its connections as *Conn.
type Listener struct{ net.Listener }

// Accept implements net.Listener.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

type connKey struct{}

// ConnContext is for http.Server.ConnContext: a request on a *Conn finds
// it with FromContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, gc)
	}
	return ctx
}

// FromContext returns the connection a request came on, or nil when it
// cannot gather.
func FromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}

// Conn is a connection that can hold what is written to it, to send it in
// one write.
//
// What it holds always goes out: at Release; with a write that would take
// it past maxHeld; and at the first thing net/http does with the
// connection after a response, which is always one of SetWriteDeadline(time.Time{}) (after
// every response), SetReadDeadline (a read in the background being
// stopped), SetDeadline (a hijack), CloseWrite or ReadFrom; these also end
// the gathering. Each goes out before the deadline changes, under the
// deadline it was written with. Close drops what is held: it is how a
// connection is cut (http.Server.Close), from any goroutine, and must not
// wait for a client that does not read; every orderly end releases first.
//
// Writes come from the connection's serving goroutine only (HTTP/1), so
// Conn's lock guards its state, never a write in progress.
type Conn struct {
	net.Conn

	mu  sync.Mutex
	on  bool    // writes are held
	buf *[]byte // held; nil when empty
	err error   // a release failed: every later write fails

	// iov is send's writev list, kept here so that a send allocates
	// nothing (a net.Buffers of its own would escape).
	iov  [2][]byte
	bufs net.Buffers
}

// Gather holds the writes that follow until a release.
func (c *Conn) Gather() {
	c.mu.Lock()
	c.on = c.err == nil
	c.mu.Unlock()
}

// Release sends what is held in one write; the writes that follow are held
// too. It returns the error of this or an earlier release.
func (c *Conn) Release() error {
	return c.release(false)
}

// Stop sends what is held, and lets the writes that follow through.
func (c *Conn) Stop() error {
	return c.release(true)
}

func (c *Conn) release(stop bool) error {
	c.mu.Lock()
	if stop {
		c.on = false
	}
	b, err := c.buf, c.err
	c.buf = nil
	c.mu.Unlock()
	if b == nil {
		return err
	}
	return c.send(b)
}

// send writes b, a held buffer, and then more, if any, in one system call
// (a writev), and gives b back. Only the serving goroutine sends with more
// (Write), so iov needs no lock. A failed write leaves the response cut:
// the connection is closed (as net/http does when its own write fails),
// and every later write fails.
func (c *Conn) send(b *[]byte, more ...[]byte) error {
	var err error
	if len(more) == 0 {
		_, err = c.Conn.Write(*b)
	} else {
		c.bufs = append(append(c.iov[:0], *b), more...)
		_, err = c.bufs.WriteTo(c.Conn)
		c.iov, c.bufs = [2][]byte{}, nil // nothing of the caller's kept
	}
	*b = (*b)[:0]
	buffers.Put(b)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.on = false
		c.mu.Unlock()
		_ = c.Conn.Close()
	}
	return err
}

// Write holds p while gathering, and otherwise writes it.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if !c.on {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = buffers.Get().(*[]byte)
	}
	if len(*c.buf)+len(p) <= maxHeld {
		*c.buf = append(*c.buf, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	b := c.buf
	c.buf = nil
	c.mu.Unlock()
	if err := c.send(b, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetWriteDeadline sends what is held before the deadline is lifted: it
// went out under the deadline of the writes that made it. A new deadline
// (a write of the page starting) keeps the gathering: what is held goes out
// under it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		_ = c.Stop()
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetReadDeadline sends what is held, and ends the gathering.
func (c *Conn) SetReadDeadline(t time.Time) error {
	_ = c.Stop()
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sends what is held, and ends the gathering.
func (c *Conn) SetDeadline(t time.Time) error {
	_ = c.Stop()
	return c.Conn.SetDeadline(t)
}

// Close drops what is held (see Conn) and closes the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.on = false
	if c.buf != nil {
		*c.buf = (*c.buf)[:0]
		buffers.Put(c.buf)
		c.buf = nil
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite sends what is held and shuts the connection's writing side,
// as net/http does before it closes a connection whose request it did not
// read to its end.
func (c *Conn) CloseWrite() error {
	if err := c.Stop(); err != nil {
		return err
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps net/http's sendfile for files: what is held goes out
// first.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if err := c.Stop(); err != nil {
		return 0, err
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
