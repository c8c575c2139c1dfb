//go:build linux && !(amd64 || arm64)

package fetch

import "syscall"

// recvMsg: syscall.Recvmsg on the other architectures (some make the call
// through socketcall).
type recvMsg struct{}

// recvmsg reads the socket into p, and its control messages into pc.oob.
func (pc *wireConn) recvmsg(fd uintptr, p []byte) (n, oobn int, err error) {
	n, oobn, _, _, err = syscall.Recvmsg(int(fd), p, pc.oob[:], 0)
	return n, oobn, err
}
