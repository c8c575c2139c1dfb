// Package hostcheck is the one rule by which a listener meant for this
// machine only (the dev page server, an admin listener on loopback)
// refuses a request whose Host names another: a page on another site
// whose DNS name was rebound to a loopback address (DNS rebinding) sends
// its own name as Host, and must not read what the listener serves.
package hostcheck

import (
	"net"
	"strings"
)

// Allowed says whether a request's Host names this machine for a listener
// on listen: a loopback name ("localhost", "*.localhost") or address, the
// host it listens on, or any address when it listens on all of them (an
// address is no name that DNS rebinding could point here). The port, if
// any, is not looked at.
func Allowed(listen, host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), "."))
	if h == "" {
		return false
	}
	if isLoopbackName(h) {
		return true
	}
	ip := net.ParseIP(h)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	lh := listenHost(listen)
	if lip := net.ParseIP(lh); lh == "" || (lip != nil && lip.IsUnspecified()) {
		return ip != nil
	}
	return h == lh || (ip != nil && ip.Equal(net.ParseIP(lh)))
}

// Loopback says whether listen (host:port, or a host) is a loopback
// address (127.0.0.0/8, ::1) or a loopback name: only this machine
// reaches it.
func Loopback(listen string) bool {
	lh := listenHost(listen)
	if isLoopbackName(lh) {
		return true
	}
	ip := net.ParseIP(lh)
	return ip != nil && ip.IsLoopback()
}

// listenHost is listen's host, lower case, without brackets or a final
// dot; "" for every interface.
func listenHost(listen string) string {
	lh, _, err := net.SplitHostPort(listen)
	if err != nil {
		lh = strings.TrimSuffix(strings.TrimPrefix(listen, "["), "]")
	}
	return strings.ToLower(strings.TrimSuffix(lh, "."))
}

func isLoopbackName(h string) bool {
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
