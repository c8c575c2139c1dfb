//go:build unix

package fetch

import (
	"io"
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
	n, _, errno := syscall.Recvfrom(int(fd), pc.peekBuf[:], syscall.MSG_PEEK)
	// No byte and nothing to wait for: open and quiet. Zero bytes without
	// an error: the server closed it. A byte: not ours.
	pc.quiet = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
	pc.strayByte = errno == nil && n > 0
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
	case pc.lr.hookErr != nil:
		return pc.lr.hookErr
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
	if pc.lr.hook != nil {
		// The answer is about to be waited for: the wait hook's moment.
		if err := pc.lr.hook(); err != nil {
			pc.lr.hookErr = err
			return true
		}
	}
	return false
}

// answered reports whether a read on the connection would not wait:
// bytes, the server's close or an error wait on it. It looks as usable
// does, without waiting and without taking a byte.
func (pc *wireConn) answered() bool {
	if !pc.rawConn() {
		return false
	}
	pc.quiet = true
	return pc.raw.Read(pc.peekFD) == nil && !pc.quiet
}

// writeAhead writes head for Presend without waiting: what the socket does
// not take at once is returned, for the Fetch to write. A dialler's own
// connection type is written through its Write.
func (pc *wireConn) writeAhead(head []byte) ([]byte, error) {
	if _, tcp := pc.c.(*net.TCPConn); !tcp || !pc.rawConn() {
		_, err := pc.c.Write(head)
		return nil, err
	}
	if pc.writeFD == nil {
		pc.writeFD = pc.writeNow
	}
	pc.sendHead, pc.sendErr = head, nil
	err := pc.raw.Write(pc.writeFD)
	rest, werr := pc.sendHead, pc.sendErr
	pc.sendHead, pc.sendErr = nil, nil
	switch {
	case werr != nil:
		return nil, &net.OpError{Op: "write", Net: "tcp", Source: pc.c.LocalAddr(), Addr: pc.c.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
	case err != nil:
		return nil, err
	}
	return rest, nil
}

// writeNow is writeAhead's work on the socket: it writes what the socket
// takes and never waits.
func (pc *wireConn) writeNow(fd uintptr) bool {
	for len(pc.sendHead) > 0 {
		n, err := syscall.Write(int(fd), pc.sendHead)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK {
			break
		}
		if err != nil {
			pc.sendErr = err
			break
		}
		pc.sendHead = pc.sendHead[n:]
	}
	return true
}

// readHooked reads p from the connection as its Read does, calling the
// wait hook when no byte is there and the read is about to wait (once a
// wait): through the socket's RawConn, whose wait honours the
// connection's deadlines and its close. On a connection that is not the
// dialler's plain *net.TCPConn, read through its own Read, the hook is
// called before every read.
func (pc *wireConn) readHooked(p []byte) (int, error) {
	if _, tcp := pc.c.(*net.TCPConn); !tcp || !pc.rawConn() {
		// A dialler's own connection type: its Read is its own.
		if err := pc.lr.hook(); err != nil {
			pc.lr.hookErr = err
			return 0, err
		}
		return pc.c.Read(p)
	}
	if pc.readFD == nil {
		pc.readFD = pc.readRaw
	}
	pc.readBuf, pc.readN, pc.readErr, pc.hooked = p, 0, nil, false
	err := pc.raw.Read(pc.readFD)
	n, rerr := pc.readN, pc.readErr
	pc.readBuf, pc.readErr = nil, nil
	switch {
	case pc.lr.hookErr != nil:
		return 0, pc.lr.hookErr
	case rerr == errWouldBlock:
		return 0, rerr
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: pc.c.LocalAddr(), Addr: pc.c.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
	case err != nil:
		return 0, err // the deadline, or a close
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readRaw is readHooked's work on the socket.
func (pc *wireConn) readRaw(fd uintptr) bool {
	for {
		var n int
		var err error
		if pc.stamp {
			n, err = pc.readStamped(fd, pc.readBuf)
			if n > 0 {
				pc.stamp = false // the answer's first bytes: their time is taken
			}
		} else {
			n, err = syscall.Read(int(fd), pc.readBuf)
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			if pc.lr.noWait {
				pc.readErr = errWouldBlock
				return true
			}
			if !pc.hooked {
				pc.hooked = true
				if err := pc.lr.hook(); err != nil {
					pc.lr.hookErr = err
					return true
				}
			}
			return false // wait
		case err != nil:
			pc.readErr = err
		default:
			pc.readN = n
		}
		return true
	}
}

// waitsBare reports whether pc's reads go through its socket (readHooked's
// own reads), so that a wait for the answer can be made without a read.
func (pc *wireConn) waitsBare() bool {
	_, tcp := pc.c.(*net.TCPConn)
	return tcp && pc.rawConn()
}

// awaitAnswer waits, the hook called first, until pc's answer can be read,
// without reading it. The wait clears the socket's readiness when it
// begins: an answer that came before that (after the read that found
// nothing) would never be signalled again, so the first look, made once
// the wait has begun, is a peek at the socket; a readiness left from
// before ends the wait early, and the read that follows then waits as
// usual.
func (pc *wireConn) awaitAnswer() error {
	if pc.awaitFD == nil {
		pc.awaitFD = pc.await
	}
	pc.awaited = false
	err := pc.raw.Read(pc.awaitFD)
	if pc.lr.hookErr != nil {
		return pc.lr.hookErr
	}
	return err
}

// await is awaitAnswer's work on the socket: called first, it looks
// (MSG_PEEK), and with nothing there calls the hook and waits; called
// again, the answer can be read.
func (pc *wireConn) await(fd uintptr) bool {
	if pc.awaited {
		return true
	}
	pc.awaited = true
	_, _, errno := syscall.Recvfrom(int(fd), pc.peekBuf[:], syscall.MSG_PEEK)
	if errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK {
		return true // bytes, the server's close or an error: the read tells
	}
	if err := pc.lr.hook(); err != nil {
		pc.lr.hookErr = err
		return true
	}
	return false
}
