package main

import (
	"context"
	"net/http"
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
