package fetch

import (
	"errors"
	"net"
	"syscall"
)

// waitReadable blocks until conn has bytes to read (or its end, or an
// error), without reading them, honouring conn's read deadline. It lets a
// request wait for a slow fragment without holding a read buffer.
func waitReadable(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
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
	})
	return err
}
