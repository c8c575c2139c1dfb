package fetch

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
)

// The first read of an answer happens inside the runtime's wait for the
// socket (syscall.RawConn.Read), straight into a pooled buffer taken for
// that read alone: a request waiting for a slow fragment holds no buffer,
// and it costs the same system calls as a plain read (one that finds
// nothing, the wait, one that reads).

// errWouldBlock is a first read that found nothing yet.
var errWouldBlock = errors.New("would block")

// firstReader feeds a connection's read buffer: inside the wait, from the
// socket directly, without blocking; after it, from the connection.
type firstReader struct {
	conn    net.Conn
	fd      int  // the socket, during the wait
	waiting bool // inside the wait: read fd without blocking
}

func (r *firstReader) Read(p []byte) (int, error) {
	if !r.waiting {
		return r.conn.Read(p)
	}
	for {
		n, err := syscall.Read(r.fd, p)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return 0, errWouldBlock
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// awaitAnswer waits for the answer to the request just written and gives
// the connection its read buffer, holding the first bytes.
func (cn *h1Conn) awaitAnswer() error {
	if cn.raw == nil {
		cn.takeReader()
		return nil
	}
	if cn.fill == nil {
		cn.first.conn = cn.Conn
		cn.fill = cn.fillOnce // one func value for the connection's life
	}
	cn.fillErr = nil
	if err := cn.raw.Read(cn.fill); err != nil {
		return err
	}
	return cn.fillErr
}

// fillOnce is called by the runtime with the socket: it tries one read into
// a pooled buffer and, finding nothing, gives the buffer back and asks the
// runtime to wait (false).
func (cn *h1Conn) fillOnce(fd uintptr) bool {
	br := readers.Get().(*bufio.Reader)
	cn.first.fd, cn.first.waiting = int(fd), true
	br.Reset(&cn.first)
	_, err := br.Peek(1)
	cn.first.waiting = false
	if errors.Is(err, errWouldBlock) {
		br.Reset(nil)
		readers.Put(br)
		return false
	}
	cn.br, cn.fillErr = br, err
	return true
}

// rawConn is conn's syscall.RawConn, or nil.
func rawConn(conn net.Conn) syscall.RawConn {
	if sc, ok := conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}
