//go:build linux

package fetch

import (
	"encoding/binary"
	"syscall"
	"time"
)

// enableStamps asks the kernel to stamp what pc's socket receives with the
// time it came (SO_TIMESTAMPNS), once a connection, before a request sent
// ahead leaves: the page reads the answer later, and tells the fragment's
// own time (Response.Arrived) from its own waiting. Linux turns its
// stamps on a moment after the first socket of the machine asks (and off
// after the last closes): a packet that came before that is stamped when
// it is read, and the answer's time is then the page's (as without
// stamps).
func (pc *wireConn) enableStamps() {
	if pc.stampsOn || !pc.rawConn() {
		return
	}
	pc.stampsOn = true
	_ = pc.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
}

// readStamped is a read of the socket that also takes the time its first
// byte came (pc.arrived), when the kernel stamped it.
func (pc *wireConn) readStamped(fd uintptr, p []byte) (int, error) {
	n, oobn, _, _, err := syscall.Recvmsg(int(fd), p, pc.oob[:], 0)
	if err != nil || n <= 0 || oobn <= 0 {
		return n, err
	}
	msgs, perr := syscall.ParseSocketControlMessage(pc.oob[:oobn])
	if perr != nil {
		return n, nil
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			pc.arrived = time.Unix(sec, nsec)
		}
	}
	return n, nil
}
