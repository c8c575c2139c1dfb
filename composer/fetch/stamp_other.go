//go:build unix && !linux

package fetch

import "syscall"

// enableStamps: receive times are taken on Linux only.
func (pc *wireConn) enableStamps() {}

// readStamped is a plain read: no receive time.
func (pc *wireConn) readStamped(fd uintptr, p []byte) (int, error) {
	return syscall.Read(int(fd), p)
}

// recvMsg is Linux's stamped read's (stamp_linux.go).
type recvMsg struct{}
