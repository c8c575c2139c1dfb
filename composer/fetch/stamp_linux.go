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
	n, oobn, err := pc.recvmsg(fd, p)
	if err != nil {
		return 0, err
	}
	if n <= 0 || oobn <= 0 {
		return n, nil
	}
	if at, ok := receiveTime(pc.oob[:oobn]); ok {
		pc.arrived = at
	}
	return n, nil
}

// receiveTime is the SCM_TIMESTAMPNS stamp among the control messages in
// b, read in place: syscall.ParseSocketControlMessage would allocate two
// slices a read.
func receiveTime(b []byte) (time.Time, bool) {
	hdr := syscall.CmsgLen(0) // a header, aligned: where the data starts
	for len(b) >= syscall.SizeofCmsghdr {
		var l int
		if syscall.SizeofCmsghdr == 16 { // Len is a uint64
			l = int(binary.NativeEndian.Uint64(b[0:8]))
		} else {
			l = int(binary.NativeEndian.Uint32(b[0:4]))
		}
		level := int32(binary.NativeEndian.Uint32(b[syscall.SizeofCmsghdr-8:]))
		typ := int32(binary.NativeEndian.Uint32(b[syscall.SizeofCmsghdr-4:]))
		if l < hdr || l > len(b) {
			return time.Time{}, false // malformed
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l-hdr >= 16 {
			data := b[hdr:l]
			sec := int64(binary.NativeEndian.Uint64(data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:16]))
			return time.Unix(sec, nsec), true
		}
		next := syscall.CmsgSpace(l - hdr)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return time.Time{}, false
}
