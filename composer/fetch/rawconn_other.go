//go:build !unix

package fetch

// usable reports whether an idle connection may carry a request. Without
// a way to look at a socket without reading it, none does: every request
// dials.
func (pc *wireConn) usable() bool { return false }

// send writes head.
func (pc *wireConn) send(head []byte) error {
	_, err := pc.c.Write(head)
	return err
}

// answered: no socket to look at.
func (pc *wireConn) answered() bool { return false }

// writeAhead writes head.
func (pc *wireConn) writeAhead(head []byte) ([]byte, error) {
	_, err := pc.c.Write(head)
	return nil, err
}

// readHooked calls the wait hook before every read.
func (pc *wireConn) readHooked(p []byte) (int, error) {
	if err := pc.lr.hook(); err != nil {
		pc.lr.hookErr = err
		return 0, err
	}
	return pc.c.Read(p)
}

// waitsBare: no socket to wait on without reading.
func (pc *wireConn) waitsBare() bool { return false }

// awaitAnswer is never called without waitsBare.
func (pc *wireConn) awaitAnswer() error { return nil }

// enableStamps: no socket to ask.
func (pc *wireConn) enableStamps() {}

// recvMsg is Linux's stamped read's (stamp_linux.go).
type recvMsg struct{}
