package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// An admin listener on another address (every interface, the container's)
// is reached by name from inside the network, and answers any Host.
func TestAdminOffLoopbackAnswersAnyHost(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, listen := range []string{":9090", "0.0.0.0:9090", "[::]:9090", "10.0.3.7:9090", "composer.internal:9090"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/status", nil)
		req.Host = "composer-admin.svc.cluster.local:9090"
		hosts(listen, ok).ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("admin on %s, Host %s: %d, want 200", listen, req.Host, rec.Code)
		}
	}
	for _, listen := range []string{"127.0.0.1:9090", "127.1.2.3:0", "[::1]:9090", "localhost:9090", "LocalHost.:9090"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/status", nil)
		req.Host = "evil.example:9090"
		hosts(listen, ok).ServeHTTP(rec, req)
		if rec.Code != 403 {
			t.Errorf("admin on %s, Host %s: %d, want 403", listen, req.Host, rec.Code)
		}
	}
}
