package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// An admin listener on a loopback address answers only a loopback Host: a
// page on another site whose name was rebound to 127.0.0.1 (DNS
// rebinding) sends its own name, and must not read /status, /metrics or
// the profiles from a developer's browser.
func TestAdminOnLoopbackRefusesOtherHosts(t *testing.T) {
	inst := start(t, map[string]string{})
	port := inst.admin[strings.LastIndex(inst.admin, ":"):]
	for _, tc := range []struct {
		path, host string
		want       int
	}{
		{"/status", "evil.example" + port, 403},
		{"/metrics", "evil.example", 403},
		{"/debug/pprof/", "127.0.0.1.evil.example" + port, 403},
		{"/debug/pprof/cmdline", "10.0.0.1" + port, 403},
		{"/status", "localhost.evil.example" + port, 403},
		{"/status", "", 200}, // the client's own: 127.0.0.1:port
		{"/status", "localhost" + port, 200},
		{"/metrics", "LOCALHOST", 200},
		{"/status", "prometheus.localhost" + port, 200},
		{"/status", "127.0.0.2" + port, 200},
		{"/status", "[::1]" + port, 200},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, inst.admin+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode != tc.want {
			t.Errorf("%s Host %q: %d, want %d", tc.path, tc.host, resp.StatusCode, tc.want)
		}
	}
}

// An admin listener on another address (every interface, the container's)
// is reached by name from inside the network, and answers any Host.
func TestAdminOffLoopbackAnswersAnyHost(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, listen := range []string{":9090", "0.0.0.0:9090", "[::]:9090", "10.0.3.7:9090", "composer.internal:9090"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/status", nil)
		req.Host = "composer-admin.svc.cluster.local:9090"
		adminHosts(listen, ok).ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("admin on %s, Host %s: %d, want 200", listen, req.Host, rec.Code)
		}
	}
	for _, listen := range []string{"127.0.0.1:9090", "127.1.2.3:0", "[::1]:9090", "localhost:9090", "LocalHost.:9090"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/status", nil)
		req.Host = "evil.example:9090"
		adminHosts(listen, ok).ServeHTTP(rec, req)
		if rec.Code != 403 {
			t.Errorf("admin on %s, Host %s: %d, want 403", listen, req.Host, rec.Code)
		}
	}
}
