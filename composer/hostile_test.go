package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/settings"
)

// rawGet sends target as the request line's path, byte for byte (no client
// cleans or re-encodes it), and returns the status.
func rawGet(t *testing.T, base, target string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, safety)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(safety))
	if _, err := c.Write([]byte("GET " + target + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The proxy decodes and cleans the path: one that leaves its prefix, by
// any spelling, gets 400 and never reaches the target; one that stays is
// passed on cleaned.
func TestProxyRefusesPathsLeavingThePrefix(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI)
		mu.Unlock()
	}))
	defer target.Close()
	inst := start(t, map[string]string{"COMPOSER_PROXY": "/assets/=" + target.URL})

	for _, bad := range []string{
		"/assets/../secret",
		"/assets/%2e%2e/secret",
		"/assets/%2E%2E/secret",
		"/assets/..%2fsecret",
		"/assets/..%2Fsecret",
		"/assets/%2e%2e%2fsecret",
		"/assets/a/../../secret",
		"/assets/..%5csecret",
		`/assets/..\secret`,
		`/assets/a\..\..\secret`,
		"/assets/%252e%252e/secret",
		"/assets/..%252fsecret",
		"/assets/%252e%252e%252fsecret",
		"/assets/..",
		"/assets/%2e%2e",
		// Tomcat, Jetty and Spring take "..;" (path parameters) for "..".
		"/assets/..;/secret",
		"/assets/..%3b/secret",
		"/assets/..%3B/secret",
		"/assets/%2e%2e;/secret",
		"/assets/%2e%2e%3b/secret",
		"/assets/..;jsessionid=1/WEB-INF/web.xml",
		"/assets/a/..;/..;/secret",
		"/assets/.;/..;/secret",
		"/assets/..;",
		"/assets/%252e%252e;/secret",
		"/assets/..%253b/secret",
		// Overlong UTF-8 dots and slashes, and other invalid UTF-8.
		"/assets/%c0%ae%c0%ae/secret",
		"/assets/%C0%AE%C0%AE/secret",
		"/assets/%e0%80%ae%e0%80%ae/secret",
		"/assets/%c0%af..%c0%afsecret",
		"/assets/%ff/x",
		"/assets/%25c0%25ae%25c0%25ae/secret",
		// Encoded three and four times.
		"/assets/%25252e%25252e/secret",
		"/assets/..%25252fsecret",
		"/assets/%2525252e%2525252e/secret",
		"/assets/%25252e%25252e%25252fsecret",
		"/assets/%255c..%255csecret",
		"/assets/.%2500./secret",
		// A dot segment cut short by an encoded "?" or "#": a hop that
		// re-sends the decoded path asks for the prefix's parent.
		"/assets/..%3F/secret",
		"/assets/..%3f/secret",
		"/assets/..%23/secret",
		"/assets/%2e%2e%3F/secret",
		"/assets/..%3Fx=1/secret",
		"/assets/..%23frag/secret",
		"/assets/.%3F/secret",
		"/assets/a/..%3F",
		"/assets/..%253F/secret",
		"/assets/%252e%2523/secret",
	} {
		if status := rawGet(t, inst.base, bad); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, status)
		}
	}
	for _, good := range []string{"/assets/app.css", "/assets/a/../b.css", "/assets/x/./y.css?v=1", "/assets/dir/", "/assets/.../x", "/assets/..foo"} {
		if status := rawGet(t, inst.base, good); status != http.StatusOK {
			t.Errorf("%s: %d, want 200", good, status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/assets/app.css", "/assets/b.css", "/assets/x/y.css?v=1", "/assets/dir/", "/assets/.../x", "/assets/..foo"}
	if !slices.Equal(seen, want) {
		t.Errorf("the target saw %q, want only %q", seen, want)
	}
	for _, s := range seen {
		if strings.Contains(s, "secret") || (strings.Contains(s, "..") && s != "/assets/.../x" && s != "/assets/..foo") || strings.Contains(strings.ToLower(s), "%2e") {
			t.Errorf("the target saw %q", s)
		}
	}
}

// /metrics and pprof are served on the admin listener only, never to the
// public.
func TestMetricsOnlyOnTheAdminListener(t *testing.T) {
	inst := start(t, nil)
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline", "/status"} {
		if status, _ := fetchPage(t, inst.base+p); status != http.StatusNotFound {
			t.Errorf("public listener %s: %d, want 404", p, status)
		}
	}
	if inst.admin == "" {
		t.Fatalf("no admin listener logged:\n%s", inst.logs)
	}
	if status, body := fetchPage(t, inst.admin+"/metrics"); status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("admin /metrics: %d", status)
	}
	if status, _ := fetchPage(t, inst.admin+"/debug/pprof/"); status != 200 {
		t.Errorf("admin /debug/pprof/: %d", status)
	}
	if status, body := fetchPage(t, inst.admin+"/status"); status != 200 || !strings.Contains(body, `"source": "the embedded demo templates"`) {
		t.Errorf("admin /status: %d %s", status, body)
	}
}

// COMPOSER_DEBUG_ADDR still names the admin listener; COMPOSER_ADMIN_ADDR
// wins over it, and the choice is explained.
func TestAdminAddrAndItsAlias(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
		note string
	}{
		{want: "127.0.0.1:9090"},
		{env: map[string]string{"COMPOSER_DEBUG_ADDR": "127.0.0.1:6060"}, want: "127.0.0.1:6060", note: "former name"},
		{args: []string{"-debug-addr", "127.0.0.1:6060"}, want: "127.0.0.1:6060", note: "former name"},
		{env: map[string]string{"COMPOSER_ADMIN_ADDR": "127.0.0.1:9191", "COMPOSER_DEBUG_ADDR": "127.0.0.1:6060"}, want: "127.0.0.1:9191", note: "both set"},
		{env: map[string]string{"COMPOSER_DEBUG_ADDR": "127.0.0.1:6060"}, args: []string{"-admin-addr", "127.0.0.1:9191"}, want: "127.0.0.1:9191", note: "both set"},
		{env: map[string]string{"COMPOSER_ADMIN_ADDR": "127.0.0.1:9191"}, want: "127.0.0.1:9191"},
	} {
		c, err := settings.Parse(tt.args, func(k string) string { return tt.env[k] }, io.Discard, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.AdminAddr != tt.want || !strings.Contains(c.AdminNote, tt.note) || tt.note == "" && c.AdminNote != "" {
			t.Errorf("env %v args %v: %q (%q), want %q (%q)", tt.env, tt.args, c.AdminAddr, c.AdminNote, tt.want, tt.note)
		}
	}
}

func TestWriteTimeoutSetting(t *testing.T) {
	for env, want := range map[string]time.Duration{"": 30 * time.Second, "200ms": 200 * time.Millisecond} {
		c, err := settings.Parse(nil, func(k string) string {
			if k == "COMPOSER_WRITE_TIMEOUT" {
				return env
			}
			return ""
		}, io.Discard, nil)
		if err != nil || c.WriteTimeout != want {
			t.Errorf("COMPOSER_WRITE_TIMEOUT=%q: %v %v, want %v", env, c.WriteTimeout, err, want)
		}
	}
	if _, err := settings.Parse([]string{"-write-timeout", "0s"}, func(string) string { return "" }, io.Discard, nil); err == nil || !strings.Contains(err.Error(), `-write-timeout "0s"`) {
		t.Errorf("a zero write timeout: %v, want an error", err)
	}
}
