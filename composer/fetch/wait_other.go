//go:build !linux

package fetch

import (
	"net"
	"syscall"
)

// waitReadable is a no-op off Linux: the read buffer is taken at once.
func waitReadable(syscall.RawConn) error { return nil }

func rawConn(net.Conn) syscall.RawConn { return nil }
