//go:build unix

package fetch

import (
	"net"
	"syscall"
)

// usable reports whether an idle connection may carry a request: the
// server has not closed it, and no byte waits on it (the rest of an answer
// nobody asked for). It looks without waiting and without taking a byte.
func usable(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, errno := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		// No byte and nothing to wait for: open and quiet. Zero bytes
		// without an error: the server closed it. A byte: not ours.
		ok = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
		return true // never wait
	})
	return err == nil && ok
}
