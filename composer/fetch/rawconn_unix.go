//go:build unix

package fetch

import (
	"net"
	"os"
	"syscall"
)

// rawConn is the connection's socket, looked up once (each costs an
// allocation, as do the method values kept with it); false when the
// connection has none (a dialler that wraps it).
func (pc *wireConn) rawConn() bool {
	if pc.raw == nil {
		sc, ok := pc.c.(syscall.Conn)
		if !ok {
			return false
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		pc.raw, pc.peekFD, pc.sendFD = raw, pc.peek, pc.sendRaw
	}
	return true
}

// usable reports whether an idle connection may carry a request: the
// server has not closed it, and no byte waits on it (the rest of an answer
// nobody asked for). It looks without waiting and without taking a byte.
func (pc *wireConn) usable() bool {
	if !pc.rawConn() {
		return false
	}
	pc.quiet = false
	return pc.raw.Read(pc.peekFD) == nil && pc.quiet
}

// peek is the look, on the connection's socket.
func (pc *wireConn) peek(fd uintptr) bool {
	_, _, errno := syscall.Recvfrom(int(fd), pc.peekBuf[:], syscall.MSG_PEEK)
	// No byte and nothing to wait for: open and quiet. Zero bytes without
	// an error: the server closed it. A byte: not ours.
	pc.quiet = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
	return true // never wait
}

// send writes head and returns once the answer can be read, so that the
// answer's first read finds it instead of finding nothing (a read that
// fails, then a wait, then the read again: one system call more a
// request). The write is made inside the read's wait (RawConn.Read): the
// wait's readiness is cleared when it begins, before the request leaves,
// so whatever the answer's arrival signals is seen by the wait, never
// cleared after it; a readiness left from before the write is cleared
// too, or, coming late from the poller, ends the wait early, when the
// first read finds nothing and waits as usual. The connection's deadline
// and its cancellation (a deadline in the past) end the wait as they end
// a read. A write the socket does not take whole is finished by the
// connection's own Write, and the answer read as usual.
func (pc *wireConn) send(head []byte) error {
	if _, tcp := pc.c.(*net.TCPConn); !tcp || !pc.rawConn() {
		// A dialler's own connection type: its Write is its own, and
		// the socket underneath is not written past it.
		_, err := pc.c.Write(head)
		return err
	}
	pc.sendHead, pc.sendErr, pc.sent = head, nil, false
	err := pc.raw.Read(pc.sendFD)
	rest, werr := pc.sendHead, pc.sendErr
	pc.sendHead, pc.sendErr = nil, nil
	switch {
	case werr != nil:
		return &net.OpError{Op: "write", Net: "tcp", Source: pc.c.LocalAddr(), Addr: pc.c.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
	case err != nil:
		return err // the deadline, or a close
	case len(rest) > 0:
		_, err = pc.c.Write(rest)
		return err
	}
	return nil
}

// sendRaw is send's work on the socket: called first, it writes the
// request and waits (false) if the socket took it whole; called again, the
// answer is readable.
func (pc *wireConn) sendRaw(fd uintptr) bool {
	if pc.sent {
		return true
	}
	for len(pc.sendHead) > 0 {
		n, err := syscall.Write(int(fd), pc.sendHead)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK {
			return true // the rest by the connection's Write
		}
		if err != nil {
			pc.sendErr = err
			return true
		}
		pc.sendHead = pc.sendHead[n:]
	}
	pc.sent = true
	return false
}
