//go:build unix

package fetch

import "syscall"

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

// rawConn makes the socket's raw form and the looks at it, once per
// connection (each costs an allocation); false for a connection that has
// no socket.
func (pc *wireConn) rawConn() bool {
	if pc.raw != nil {
		return true
	}
	sc, ok := pc.c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	pc.raw, pc.peekFD, pc.awaitFD = raw, pc.peek, pc.await
	return true
}

// awaitAnswer waits, holding no buffer, until the connection has
// something to read (bytes, its end or an error; the read that follows
// takes it), or until its deadline (the context's, or its cancellation)
// ends the wait with a timeout. A request waiting for its answer keeps
// no read buffer: a thousand pages of five slow fragments would hold
// five thousand for nothing. It costs no system call over a plain read:
// a look that finds nothing stands for the read that would find nothing.
func (pc *wireConn) awaitAnswer() error {
	if !pc.rawConn() {
		return nil
	}
	pc.woken = false
	return pc.raw.Read(pc.awaitFD)
}

// await is awaitAnswer's look: once before waiting (bytes already there:
// done), and once woken by the poller, when the read that follows looks.
func (pc *wireConn) await(fd uintptr) bool {
	if pc.woken {
		return true
	}
	pc.woken = true
	_, _, errno := syscall.Recvfrom(int(fd), pc.peekBuf[:], syscall.MSG_PEEK)
	return errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK
}

// peek is the look, on the connection's socket.
func (pc *wireConn) peek(fd uintptr) bool {
	_, _, errno := syscall.Recvfrom(int(fd), pc.peekBuf[:], syscall.MSG_PEEK)
	// No byte and nothing to wait for: open and quiet. Zero bytes without
	// an error: the server closed it. A byte: not ours.
	pc.quiet = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
	return true // never wait
}
