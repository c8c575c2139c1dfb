package fetch

import (
	"errors"
	"net"
	"syscall"
)

// waitReadable blocks until conn has bytes to read (or its end, or an
// error), without reading them, honouring conn's read deadline. It lets a
// request wait for a slow fragment without holding a read buffer. rc is
// conn's syscall.RawConn, kept by the caller (nil: conn has none, and the
// wait is left to the read that follows).
func waitReadable(rc syscall.RawConn) error {
	if rc == nil {
		return nil
	}
	return rc.Read(peekReadable)
}

// peekReadable reports whether fd has something to read; false makes the
// runtime wait for it. It captures nothing, so passing it allocates nothing.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			return true
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return false // not yet: the runtime waits for the socket
		}
		return true // an error: the read that follows reports it
	}
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
