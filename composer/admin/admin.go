// Package admin is the admin listener: /metrics, /debug/pprof/ and
// /status, for a collector inside the network, never for the public; on
// loopback it answers only requests that name this machine.
package admin

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/hostcheck"
)

// hosts guards the admin listener on listen: on a loopback address
// it answers only a request whose Host names this machine (the dev
// server's rule, hostcheck.Allowed), else 403, so that a page whose DNS
// name was rebound to loopback cannot read /status, /metrics or the
// profiles from a developer's browser. On any other address it is reached
// by whatever name the network gives it, and answers any Host.
func hosts(listen string, next http.Handler) http.Handler {
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

// Serve starts the admin listener on addr: metrics, profiles and
// status (the sources' state, as JSON), for Prometheus or the CloudWatch agent inside the
// network, never for the public (the load balancer reaches only
// COMPOSER_ADDR). It returns what stops it and the address it listens on.
func Serve(addr string, log *slog.Logger, metrics *prometheus.Registry, status func() any, own *fetch.Listeners) (func(), net.Addr, error) {
	dl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	own.Add(dl.Addr()) // overrides never reach it
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status())
	})
	ds := &http.Server{Handler: hosts(addr, mux), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = ds.Serve(dl) }()
	log.Info("admin listener", slog.String("addr", dl.Addr().String()))
	return func() { _ = ds.Close() }, dl.Addr(), nil
}
