//go:build linux && (amd64 || arm64)

package fetch

import (
	"syscall"
	"unsafe"
)

// recvMsg is a stamped read's message header and its one buffer, kept in
// the connection: syscall.Recvmsg would allocate the sender's address
// (unused on a connected socket) on every read.
type recvMsg struct {
	hdr syscall.Msghdr
	iov syscall.Iovec
}

// recvmsg reads the socket into p, and its control messages into pc.oob.
func (pc *wireConn) recvmsg(fd uintptr, p []byte) (n, oobn int, err error) {
	if len(p) == 0 {
		return 0, 0, nil
	}
	m := &pc.msg
	m.iov.Base = &p[0]
	m.iov.SetLen(len(p))
	m.hdr = syscall.Msghdr{Iov: &m.iov, Control: &pc.oob[0]}
	m.hdr.Iovlen = 1
	m.hdr.SetControllen(len(pc.oob))
	r, _, errno := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&m.hdr)), 0)
	oobn = int(m.hdr.Controllen)
	m.iov.Base, m.hdr.Iov, m.hdr.Control = nil, nil, nil // nothing of the caller's kept
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r), oobn, nil
}
