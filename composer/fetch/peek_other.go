//go:build !unix

package fetch

// usable reports whether an idle connection may carry a request. Without
// a way to look at a socket without reading it, none does: every request
// dials.
func (pc *wireConn) usable() bool { return false }

// awaitAnswer waits for the answer's first byte: here, in the read that
// follows.
func (pc *wireConn) awaitAnswer() error { return nil }
