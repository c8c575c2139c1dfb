package fetch

import (
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"time"
)

// A stamped read takes its receive time from the control message in
// place, with a message header kept in the connection: one such read a
// fragment answer, on every page.
func TestAStampedReadAllocatesNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	pc := newWireConn(client, "test")
	pc.enableStamps()
	// Linux turns its stamps on a moment after the first socket asks.
	time.Sleep(20 * time.Millisecond)
	p, x := make([]byte, 64), []byte("x")
	var fd uintptr
	_ = pc.raw.Control(func(f uintptr) { fd = f })
	read := func() {
		if _, err := server.Write(x); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := pc.readStamped(fd, p)
			if err == syscall.EAGAIN {
				continue
			}
			if err != nil || n != 1 {
				t.Fatalf("read %d, %v", n, err)
			}
			return
		}
	}
	read()
	if pc.arrived.IsZero() {
		t.Fatal("no receive time taken")
	}
	if allocs := testing.AllocsPerRun(100, read); allocs != 0 {
		t.Errorf("%v allocations a stamped read, want 0", allocs)
	}
}

// receiveTime finds the stamp among other control messages, and refuses
// a malformed list.
func TestReceiveTimeReadsControlMessagesInPlace(t *testing.T) {
	msg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, syscall.CmsgSpace(len(data)))
		h := syscall.Cmsghdr{Level: level, Type: typ}
		h.SetLen(syscall.CmsgLen(len(data)))
		if syscall.SizeofCmsghdr == 16 {
			binary.NativeEndian.PutUint64(b, uint64(h.Len))
		} else {
			binary.NativeEndian.PutUint32(b, uint32(h.Len))
		}
		binary.NativeEndian.PutUint32(b[syscall.SizeofCmsghdr-8:], uint32(level))
		binary.NativeEndian.PutUint32(b[syscall.SizeofCmsghdr-4:], uint32(typ))
		copy(b[syscall.CmsgLen(0):], data)
		return b
	}
	at := time.Unix(1700000000, 123456789)
	stamp := binary.NativeEndian.AppendUint64(nil, uint64(at.Unix()))
	stamp = binary.NativeEndian.AppendUint64(stamp, uint64(at.Nanosecond()))
	other := msg(syscall.SOL_SOCKET, syscall.SCM_RIGHTS, []byte{1, 2, 3, 4})
	both := append(other, msg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, stamp)...)
	if got, ok := receiveTime(both); !ok || !got.Equal(at) {
		t.Errorf("receiveTime = %v, %v; want %v", got, ok, at)
	}
	if _, ok := receiveTime(other); ok {
		t.Error("a stamp found where there is none")
	}
	bad := append([]byte(nil), both...)
	bad[0] = 0xff // a length past the end
	if _, ok := receiveTime(bad); ok {
		t.Error("a malformed list read")
	}
}
