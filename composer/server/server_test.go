package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

func TestMain(m *testing.M) {
	// Fetch workers wait for the next page's fragments; a worker still
	// inside a fetch has a deeper stack and is reported.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/ssr-mfe/composer/composer/stream.(*workers).work"))
}

func buildSet(t *testing.T, files map[string]string) *template.Set {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range files {
		m[k] = []byte(v)
	}
	set, err := template.BuildSet(m)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newServer(t *testing.T, reg *registry.Registry, mounts map[string]http.Handler) (*server.Server, *httptest.Server, *logbuf.Buffer) {
	t.Helper()
	return newServerCSP(t, reg, mounts, "")
}

func newServerCSP(t *testing.T, reg *registry.Registry, mounts map[string]http.Handler, csp string) (*server.Server, *httptest.Server, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	c := &stream.Composer{Fetch: &fetch.Mux{HTTP: h}, Registry: reg, Log: log}
	s := server.New(server.Options{Log: log, Composer: c, Registry: reg, Mounts: mounts, CSP: csp})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts, logs
}

func do(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	reg := registry.New(nil)
	s, ts, _ := newServer(t, reg, nil)
	resp, body := do(t, "GET", ts.URL+"/readyz", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "templates not loaded") || !strings.Contains(body, "registry not loaded") {
		t.Errorf("before loading: %d %q", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", ts.URL+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("healthz before loading: %d, want 200 (alive)", resp.StatusCode)
	}
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "a"}))
	reg.Update(nil)
	if resp, body := do(t, "GET", ts.URL+"/readyz", nil); resp.StatusCode != 200 {
		t.Errorf("after loading: %d %q", resp.StatusCode, body)
	}
}

func TestRequestIDAndLogLine(t *testing.T) {
	t.Parallel()
	s, ts, logs := newServer(t, registry.New(map[string]registry.Entry{}), nil)
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "a"}))
	resp, _ := do(t, "GET", ts.URL+"/", http.Header{"X-Request-Id": {"abc-123"}})
	if got := resp.Header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id = %q, want the client's", got)
	}
	resp, _ = do(t, "GET", ts.URL+"/", http.Header{"X-Request-Id": {"<script>"}})
	if got := resp.Header.Get("X-Request-Id"); got == "<script>" || len(got) != 24 {
		t.Errorf("X-Request-Id = %q, want a fresh one", got)
	}
	if !strings.Contains(logs.String(), `"msg":"request","request_id":"abc-123","method":"GET","path":"/","status":200`) {
		t.Errorf("no request line:\n%s", logs)
	}
}

func TestMethodsAndNotFound(t *testing.T) {
	t.Parallel()
	s, ts, _ := newServer(t, registry.New(map[string]registry.Entry{}), nil)
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "page", "404.html": "custom 404"}))
	if resp, _ := do(t, "POST", ts.URL+"/", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
	if resp, body := do(t, "HEAD", ts.URL+"/", nil); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", ts.URL+"/nope", nil); resp.StatusCode != 404 || body != "custom 404" {
		t.Errorf("unknown path: %d %q", resp.StatusCode, body)
	}
}

// A request target too long gets 414 that no cache keeps, as the other
// error answers (a 414 is cacheable by default, RFC 9110 section 15.1).
func TestTooLongATargetIsNotKept(t *testing.T) {
	t.Parallel()
	s, ts, _ := newServer(t, registry.New(map[string]registry.Entry{}), nil)
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "page"}))
	resp, _ := do(t, "GET", ts.URL+"/?q="+strings.Repeat("x", server.MaxURILength), nil)
	if resp.StatusCode != http.StatusRequestURITooLong || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("a too long target: %d, Cache-Control %q; want 414, no-store", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestPanicIsA500AndLogged(t *testing.T) {
	t.Parallel()
	_, ts, logs := newServer(t, registry.New(nil), map[string]http.Handler{
		"/boom": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaboom") }),
	})
	resp, body := do(t, "GET", ts.URL+"/boom", nil)
	if resp.StatusCode != 500 || strings.Contains(body, "kaboom") {
		t.Errorf("%d %q; want 500 without the panic's text", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "kaboom") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", logs)
	}
}

// A page in flight finishes with the template it started with.
func TestTemplateSwapDuringStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "F")
	}))
	defer frag.Close()
	reg := registry.New(map[string]registry.Entry{"f": {Endpoint: frag.URL, Timeout: time.Hour}})
	s, ts, _ := newServer(t, reg, nil)
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `old[<micro-frontend id=f/>]old`}))
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `new`}))
	close(release)
	if page := <-got; page != "old[F]old" {
		t.Errorf("in-flight page = %q, want it whole from the old template", page)
	}
	if _, page := do(t, "GET", ts.URL+"/", nil); page != "new" {
		t.Errorf("next page = %q, want the new template", page)
	}
}

func TestSecurityHeadersAndCSPHashes(t *testing.T) {
	t.Parallel()
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "R") }))
	defer frag.Close()
	reg := registry.New(map[string]registry.Entry{"r": {Endpoint: frag.URL}, "s": {Endpoint: frag.URL + "/s"}})
	s, ts, _ := newServerCSP(t, reg, nil, "script-src {hashes}")
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<body><micro-frontend id=r async/><micro-frontend id=s async/></body>`}))
	want := "script-src " + stream.ScriptHashes
	for range 2 {
		resp, body := do(t, "GET", ts.URL+"/", nil)
		if csp := resp.Header.Get("Content-Security-Policy"); csp != want || !strings.HasPrefix(csp, "script-src 'sha256-") {
			t.Fatalf("CSP = %q, want %q", csp, want)
		}
		scripts := strings.Split(body, "<script>")[1:]
		if len(scripts) != 2 || strings.Count(body, "<script") != 2 {
			t.Fatalf("want two inline scripts without attributes: %s", body)
		}
		for _, sc := range scripts {
			sum := sha256.Sum256([]byte(sc[:strings.Index(sc, "</script>")]))
			if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !slices.Contains(strings.Fields(stream.ScriptHashes), h) {
				t.Errorf("inline script hashes to %s, the policy allows %s", h, stream.ScriptHashes)
			}
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "strict-origin-when-cross-origin" {
			t.Errorf("security headers: %v", resp.Header)
		}
	}
	if resp, _ := do(t, "GET", ts.URL+"/healthz", nil); resp.Header.Get("Content-Security-Policy") != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("healthz headers: %v", resp.Header)
	}
}
