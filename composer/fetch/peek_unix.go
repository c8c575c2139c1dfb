//go:build unix

package fetch

import "syscall"

// usable reports whether an idle connection may carry a request: the
// server has not closed it, and no byte waits on it (the rest of an answer
// nobody asked for). It looks without waiting and without taking a byte.
func (pc *wireConn) usable() bool {
	if pc.raw == nil {
		sc, ok := pc.c.(syscall.Conn)
		if !ok {
			return false
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		pc.raw, pc.peekFD = raw, pc.peek // once: each costs an allocation
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
