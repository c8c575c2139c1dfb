//go:build !unix

package fetch

import "net"

// usable reports whether an idle connection may carry a request. Without
// a way to look at a socket without reading it, none does: every request
// dials.
func usable(net.Conn) bool { return false }
