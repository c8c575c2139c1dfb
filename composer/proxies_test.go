package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startNginx runs nginx as a child process on a loopback port, in front
// of upstream with nginx's default proxy settings (proxy_buffering on,
// HTTP/1.0 to the upstream), as ingress-nginx and most compose stacks
// run it. It returns nginx's base URL.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	return startNginxWith(t, upstream, "", "")
}

// startNginxWith is startNginx with more directives in its http block and
// in its location.
func startNginxWith(t *testing.T, upstream, httpExtra, locationExtra string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("nginx is not installed; CI installs it (.ci/run)")
		}
		t.Skip("nginx is not installed (apt-get install nginx-light)")
	}
	// A free loopback port, given to nginx, which binds it again: another
	// process may take it in between, and then nginx tries another.
	for attempt := 1; ; attempt++ {
		base, taken := runNginx(t, bin, upstream, httpExtra, locationExtra)
		if !taken {
			return base
		}
		if attempt == 3 {
			t.Fatal("nginx: three ports taken before it could bind them")
		}
	}
}

// runNginx starts nginx on a free loopback port and returns its base URL
// once it answers, or taken when the port was taken before nginx bound it.
func runNginx(t *testing.T, bin, upstream, httpExtra, locationExtra string) (base string, taken bool) {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	%[4]s
	server {
		listen %[2]s;
		location / {
			proxy_pass %[3]s;
			%[5]s
		}
	}
}
`, dir, addr, upstream, httpExtra, locationExtra)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base = "http://" + addr
	deadline := time.Now().Add(safety)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			if strings.Contains(string(log), "Address already in use") {
				return "", true
			}
			t.Fatalf("nginx exited: %s\n%s", out.String(), log)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, false
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Streaming survives nginx with its default settings: the page head comes
// through it while a fragment is still held. The fragment answers only
// once the test has read the head through nginx, so a proxy that buffers
// the page deadlocks, and the test fails at its bound.
func TestStreamingThroughNginx(t *testing.T) {
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			fmt.Fprint(w, "<p>late</p>")
		case <-r.Context().Done():
		}
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><title>t</title><h1>head</h1><micro-frontend id="slow" timeout="1h"/><p>end</p>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"slow": %q}`, frag.URL))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile})
	front := startNginx(t, inst.base)

	const bound = 10 * time.Second // only a bound on a deadlock, never a timing claim
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front+"/", nil)
	resp, err := http.DefaultClient.Do(req) // asks for gzip and decompresses as it reads, as browsers do
	if err != nil {
		t.Fatalf("no answer through nginx while a fragment is held (nginx buffers the page?): %v", err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var got strings.Builder
	for !strings.Contains(got.String(), "<h1>head</h1>") {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("the page head did not come through nginx while a fragment was held (nginx buffers the page): %v; read %q", err, got.String())
		}
		got.WriteByte(b)
	}
	releaseOnce()
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if page := got.String() + string(rest); !strings.HasSuffix(page, "<p>late</p><p>end</p>") {
		t.Errorf("page through nginx = %q", page)
	}
}
