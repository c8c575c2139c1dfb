package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/composer/command/healthcheck"
)

// A template slot whose id is not in the local registry file stops
// start-up with the line validate prints, and validate checks it even when
// the registry is empty.
func TestStartupRefusesASlotNotInTheLocalRegistry(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "<p>\n<micro-frontend id=\"zzz\"/>\n")
	reg := filepath.Join(t.TempDir(), "registry.json")
	for _, content := range []string{`{"x": "http://127.0.0.1:9/"}`, `{}`} {
		writeFile(t, reg, content)
		want := filepath.Join(dir, "a.html") + `:2: fragment "zzz" is not in the registry ` + reg
		lines, err := runValidate(t, dir, "-registry", reg)
		if err == nil || !contains(lines, want) {
			t.Errorf("validate with registry %s: %v\n%s\nwant the line %s", content, err, strings.Join(lines, "\n"), want)
		}
		served, stderr, err := startOrExit(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg})
		if served {
			t.Fatalf("registry %s: served a site whose slot is not registered; logs:\n%s", content, stderr)
		}
		if err == nil || !strings.Contains("\n"+stderr, "\n"+want+"\n") {
			t.Errorf("registry %s: error %v; stderr lacks the line %q:\n%s", content, err, want, stderr)
		}
	}
}

// An id ending in ARN would be read back as another id (the original
// sample's "<prefix><id>ARN" naming): register refuses it, saying why, and
// writes nothing, for one entry or a file.
func TestRegisterRefusesIDsEndingInARN(t *testing.T) {
	w := &awsWorld{ssm: awstest.NewSSM(t)}
	w.env = awstest.Env("", w.ssm.URL, "", "")
	for _, id := range []string{"fooARN", "_versionARN", "team/navARN"} {
		var out strings.Builder
		err := run(context.Background(), []string{"composer", "register", id, "http://a.internal/"}, w.getenv, &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "ARN") {
			t.Errorf("register %s: %v, want a refusal that explains the ARN suffix", id, err)
		}
	}
	file := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, file, "{\n  \"a\": \"http://a.internal/\",\n  \"fooARN\": \"http://b.internal/\"\n}")
	var out strings.Builder
	err := run(context.Background(), []string{"composer", "register", "-file", file}, w.getenv, &out, io.Discard)
	if err == nil || !strings.Contains(out.String()+err.Error(), "fooARN") {
		t.Errorf("register -file with fooARN: %v\n%s", err, out.String())
	}
	if n := w.ssm.Calls("PutParameter"); n != 0 {
		t.Errorf("%d PutParameter calls, want none", n)
	}
}

// Only regular files are read: a FIFO named like a template (or as
// routes.json) is a problem line, not a read that never returns, and a
// symbolic link to outside the folder is refused. A link inside the
// folder is read as its target.
func TestValidateReadsOnlyRegularFilesInTheFolder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html", "/b": "b.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>a</p>`)
	if err := os.Symlink("a.html", filepath.Join(dir, "b.html")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.html")
	writeFile(t, outside, `<p>outside</p>`)
	if err := os.Symlink(outside, filepath.Join(dir, "host.html")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(filepath.Dir(outside))+"/secret.html", filepath.Join(dir, "rel.html")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe.html")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	t.Cleanup(func() { // release a reader blocked on the FIFO (old code)
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	type result struct {
		lines []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		lines, err := runValidate(t, dir)
		done <- result{lines, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("validate still reading after 5s: a FIFO in the folder blocks it")
	}
	if r.err == nil {
		t.Fatalf("validate passed a folder with a FIFO and links outside it:\n%s", strings.Join(r.lines, "\n"))
	}
	for _, want := range []string{
		fifo + ": not a regular file",
		filepath.Join(dir, "host.html") + ": a symbolic link to outside the folder",
		filepath.Join(dir, "rel.html") + ": a symbolic link to outside the folder",
	} {
		found := false
		for _, l := range r.lines {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("no line %q in:\n%s", want, strings.Join(r.lines, "\n"))
		}
	}
	for _, l := range r.lines {
		if strings.Contains(l, "b.html") {
			t.Errorf("a link inside the folder is refused: %s", l)
		}
	}
	if len(r.lines) != 3 {
		t.Errorf("%d lines, want 3:\n%s", len(r.lines), strings.Join(r.lines, "\n"))
	}
}

// healthcheck probes the configured address (any form of COMPOSER_ADDR)
// and /healthz, the liveness probe; a URL argument still wins.
func TestHealthcheckProbesTheConfiguredAddressLiveness(t *testing.T) {
	var paths []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		if r.URL.Path != "/healthz" && r.URL.Path != "/other" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ts.Close()
	port := ts.Listener.Addr().(*net.TCPAddr).Port
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf(":%d", port), fmt.Sprintf("0.0.0.0:%d", port)} {
		paths = nil
		env := map[string]string{"COMPOSER_ADDR": addr}
		err := run(context.Background(), []string{"composer", "healthcheck"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err != nil || len(paths) != 1 || paths[0] != "/healthz" {
			t.Errorf("COMPOSER_ADDR=%s: %v, paths %v; want one probe of /healthz", addr, err, paths)
		}
	}
	paths = nil
	if err := run(context.Background(), []string{"composer", "healthcheck", ts.URL + "/other"}, func(string) string { return "" }, io.Discard, io.Discard); err != nil || len(paths) != 1 || paths[0] != "/other" {
		t.Errorf("explicit URL: %v, paths %v", err, paths)
	}
}

// The image's HEALTHCHECK and the ECS container health check probe the
// same liveness endpoint: /healthz at the configured address.
func TestContainerHealthChecksProbeLiveness(t *testing.T) {
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["/composer", "healthcheck"(, "([^"]*)")?\]$`).FindStringSubmatch(string(dockerfile))
	if m == nil {
		t.Fatal("the Dockerfile's HEALTHCHECK does not run /composer healthcheck")
	}
	if m[2] != "" && !strings.HasSuffix(m[2], "/healthz") {
		t.Errorf("the Dockerfile's HEALTHCHECK probes %s, not /healthz", m[2])
	}
	if u, _ := healthcheck.LivenessURL(""); u != "http://127.0.0.1:8080/healthz" {
		t.Errorf("healthcheck without COMPOSER_ADDR probes %s", u)
	}
	stack, err := os.ReadFile("../infra/stack.go")
	if err != nil {
		t.Fatal(err)
	}
	addr := regexp.MustCompile(`"COMPOSER_ADDR":\s*jsii.String\("([^"]*)"\)`).FindStringSubmatch(string(stack))
	cmd := regexp.MustCompile(`"Command":\s*\[\]string\{"CMD", "/composer", "healthcheck"(, "([^"]*)")?\}`).FindStringSubmatch(string(stack))
	if addr == nil || cmd == nil {
		t.Fatal("infra/stack.go: no COMPOSER_ADDR or no container health check running /composer healthcheck")
	}
	want, _ := healthcheck.LivenessURL(addr[1])
	if cmd[2] != "" && cmd[2] != want {
		t.Errorf("the stack's container health check probes %s; the task listens on %s, whose liveness is %s", cmd[2], addr[1], want)
	}
}

// A registry path that is a directory (here the template folder itself)
// is one problem line, "file: message", printed once.
func TestRegistryPathThatIsADirectoryIsOneLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>a</p>`)
	served, stderr, err := startOrExit(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": dir})
	if served || err == nil {
		t.Fatalf("served with a directory as registry file; logs:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], dir+": ") || !strings.Contains(lines[0], "directory") {
		t.Errorf("want one line %q, got:\n%s", dir+": ...directory...", stderr)
	}
	lines, err = runValidate(t, dir, "-registry", dir)
	if err == nil || len(lines) != 1 || !strings.HasPrefix(lines[0], dir+": ") {
		t.Errorf("validate: %v\n%s", err, strings.Join(lines, "\n"))
	}
}

// A Parameter Store prefix with "//", or that does not start and end with
// "/", is refused where it is configured: COMPOSER_REGISTRY and register
// -prefix.
func TestSSMPrefixesAreRefusedUnlessPlain(t *testing.T) {
	w := &awsWorld{ssm: awstest.NewSSM(t)}
	w.env = awstest.Env("", w.ssm.URL, "", "")
	for _, prefix := range []string{"/race//", "//race/", "/a//b/", "/race", "race/"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // a server that starts is stopped
		err := run(ctx, []string{"composer", "-registry", "ssm:" + prefix, "-addr", "127.0.0.1:0", "-admin-addr", ""}, w.getenv, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), prefix) {
			t.Errorf("COMPOSER_REGISTRY=ssm:%s: %v", prefix, err)
		}
		err = run(context.Background(), []string{"composer", "register", "-prefix", prefix, "a", "http://a.internal/"}, w.getenv, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), prefix) {
			t.Errorf("register -prefix %s: %v", prefix, err)
		}
	}
	if n := w.ssm.Calls("PutParameter"); n != 0 {
		t.Errorf("%d PutParameter calls, want none", n)
	}
}

// A FIFO that appears in the folder while serving is a refused change
// (counted, /readyz notice), not a source outage nor a reload that never
// returns; the server stops on request.
func TestAFIFOAppearingWhileServingIsARefusedChange(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "page.html"}`)
	writeFile(t, filepath.Join(dir, "page.html"), `<p>hello</p>`)
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, `{}`)
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg, "COMPOSER_REFRESH": "50ms"})
	fifo := filepath.Join(dir, "pipe.html")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	eventually(t, "the FIFO counted as a refused change", func() bool {
		return metricValue(t, inst.admin, "composer_source_refused_total", `{source="templates"}`) == 1
	})
	if n := metricValue(t, inst.admin, "composer_source_errors_total", `{source="templates"}`); n != 0 {
		t.Errorf("composer_source_errors_total{templates} = %v: a FIFO is not an outage", n)
	}
	_, details := fetchPage(t, inst.admin+"/status")
	if !strings.Contains(details, "pipe.html: not a regular file") {
		t.Errorf("admin /status lacks the problem:\n%s", details)
	}
	if status, body := fetchPage(t, inst.base+"/"); status != 200 || !strings.Contains(body, "hello") {
		t.Errorf("the last good set does not serve: %d %q", status, body)
	}
}
