package main

import (
	"net/http"
	"strconv"

	"github.com/ssr-mfe/composer/composer/internal/hostcheck"
)

// adminHosts guards the admin listener on listen: on a loopback address
// it answers only a request whose Host names this machine (the dev
// server's rule, hostcheck.Allowed), else 403, so that a page whose DNS
// name was rebound to loopback cannot read /status, /metrics or the
// profiles from a developer's browser. On any other address it is reached
// by whatever name the network gives it, and answers any Host.
func adminHosts(listen string, next http.Handler) http.Handler {
	if !hostcheck.Loopback(listen) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostcheck.Allowed(listen, r.Host) {
			http.Error(w, "composer admin: Host "+strconv.Quote(r.Host)+" is not this machine: the admin listener is on loopback; ask it by localhost or a loopback address", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
