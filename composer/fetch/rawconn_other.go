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
