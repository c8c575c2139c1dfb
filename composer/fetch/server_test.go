package fetch

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// countedServer starts a loopback test server running h that counts the
// connections it opens; it closes with the test.
func countedServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	s, opened, _ := countingServer(t, h)
	return s, opened
}

// countingServer is countedServer that also counts the connections that
// closed (or were hijacked).
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	var opened, closed atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &opened, &closed
}
