//go:build !linux

package fetch

import "net"

// waitReadable is a no-op off Linux: the read buffer is taken at once.
func waitReadable(net.Conn) error { return nil }
