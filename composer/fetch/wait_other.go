//go:build !linux

package fetch

import (
	"net"
	"syscall"
)

// Off Linux the read buffer is taken before the wait.

type firstReader struct{}

func (cn *h1Conn) awaitAnswer() error {
	cn.takeReader()
	return nil
}

func rawConn(net.Conn) syscall.RawConn { return nil }
