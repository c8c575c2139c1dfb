package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the standard logger's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jsonLines fails on any line of logs that is not a JSON object, and
// returns the lines.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("a log line that is not JSON: %q", sc.Text())
			continue
		}
		lines = append(lines, line)
	}
	return lines
}

// The reverse proxies (COMPOSER_PROXY, and the demo's /api/reviews/) log
// through the process's logger, with the request id: a target that is
// down or cuts its body writes no plain-text line around the JSON log.
func TestProxyErrorsAreLoggedAsJSON(t *testing.T) {
	stray := &lockedBuffer{}
	log.SetOutput(stray)
	defer log.SetOutput(os.Stderr)

	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("short"))
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer cut.Close()
	down, _ := net.Listen("tcp", "127.0.0.1:0")
	downURL := "http://" + down.Addr().String()
	down.Close()

	inst := start(t, nil, "-proxy", "/down/="+downURL+",/cut/="+cut.URL)
	if status, _ := fetchPage(t, inst.base+"/down/a"); status != http.StatusBadGateway {
		t.Errorf("/down/a: %d, want 502", status)
	}
	if resp, err := http.Get(inst.base + "/cut/a"); err == nil {
		_, _ = bytes.NewBuffer(nil).ReadFrom(resp.Body)
		resp.Body.Close()
	}
	inst.stop(t)
	if s := stray.String(); s != "" {
		t.Errorf("written around the JSON log:\n%s", s)
	}
	var proxyLine bool
	for _, line := range jsonLines(t, inst.logs.String()) {
		if id, _ := line["request_id"].(string); id != "" && line["level"] == "WARN" && strings.Contains(line["msg"].(string), "proxy") && line["path"] == "/down/a" {
			proxyLine = true
		}
	}
	if !proxyLine {
		t.Errorf("no warning with the request id and path for the proxy's error:\n%s", inst.logs)
	}
}

// Every setting error names the setting as the user gave it, flag or
// variable, and a listen address is checked before anything starts.
func TestSettingErrorsNameTheSettingGiven(t *testing.T) {
	tests := []struct {
		env       map[string]string
		args      []string
		want, not string
	}{
		{args: []string{"-addr", "127.0.0.1:0", "-debug-addr", "nonsense"}, want: `-debug-addr "nonsense": `, not: "ADMIN"},
		{args: []string{"-addr", "127.0.0.1:0"}, env: map[string]string{"COMPOSER_DEBUG_ADDR": "nonsense"}, want: `COMPOSER_DEBUG_ADDR="nonsense": `, not: "ADMIN"},
		{args: []string{"-admin-addr", "nonsense"}, want: `-admin-addr "nonsense": `},
		{args: []string{"-admin-addr", "127.0.0.1:0", "-addr", "nonsense"}, want: `-addr "nonsense": `},
		{args: []string{"-admin-addr", "127.0.0.1:0"}, env: map[string]string{"COMPOSER_ADDR": "nonsense"}, want: `COMPOSER_ADDR="nonsense": `},
		{args: []string{"-admin-addr", "127.0.0.1:0", "-addr", "127.0.0.1:0", "-dev=maybe"}, want: `-dev "maybe": want true or false`},
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, tt := range tests {
		var logs strings.Builder
		args := append([]string{"composer", "-log-format", "json"}, tt.args...)
		err := run(t.Context(), args, func(k string) string { return tt.env[k] }, io.Discard, &logs)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.not != "" && strings.Contains(err.Error(), tt.not)) {
			t.Errorf("env %v args %v: %v, want an error containing %q (and not %q)", tt.env, tt.args, err, tt.want, tt.not)
		}
		if logs.Len() > 0 {
			t.Errorf("env %v args %v: started before the error:\n%s", tt.env, tt.args, logs.String())
		}
	}
}

// listeningLine is the start-up line of a server started with env.
func listeningLine(t *testing.T, env map[string]string, args ...string) (map[string]any, *instance) {
	t.Helper()
	inst := start(t, env, args...)
	for _, line := range jsonLines(t, inst.logs.String()) {
		if line["msg"] == "listening" {
			return line, inst
		}
	}
	t.Fatalf("no listening line:\n%s", inst.logs)
	return nil, nil
}

// The start-up line points at a page that exists: the first route with
// no parameter; with none, it gives the first pattern as a pattern, not
// as a URL; with nothing loaded yet, it says it waits for a good load.
func TestListeningLineNeverPointsAtAMissingPage(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, `{}`)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/p/{id:[0-9]+}": "a.html", "/shop/{id}": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>shop</p>`)
	line, _ := listeningLine(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg})
	if _, hasURL := line["url"]; hasURL || line["first_route"] != "/p/{id:[0-9]+}" {
		t.Errorf("only routes with parameters: listening line %v, want first_route /p/{id:[0-9]+} and no url", line)
	}

	broken := t.TempDir()
	writeFile(t, filepath.Join(broken, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(broken, "a.html"), `<micro-frontend id="x" timeout="soon"/>`)
	line, inst := listeningLine(t, map[string]string{"COMPOSER_TEMPLATES": broken, "COMPOSER_REGISTRY": reg}, "-dev")
	if status, _ := fetchPage(t, inst.base+"/"); status != 503 {
		t.Fatalf("dev mode, broken folder: / answers %d, want 503", status)
	}
	if _, hasURL := line["url"]; hasURL || !strings.Contains(fmt.Sprint(line["waiting"]), "good load") {
		t.Errorf("dev mode, nothing loaded: listening line %v, want no url and a waiting field saying it waits for a good load", line)
	}
}

// logLine is the first line of logs with msg and every field of match.
func logLine(t *testing.T, logs string, msg string, match map[string]any) map[string]any {
	t.Helper()
	for _, line := range jsonLines(t, logs) {
		if line["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range match {
			if line[k] != v {
				ok = false
			}
		}
		if ok {
			return line
		}
	}
	return nil
}

// The logs say what happened: a fragment's failure carries its deadline
// and how long it took, says "timed out after N ms" and whether its body
// was cut; a 5xx page's request line is a warning; a required fragment's
// ordinary 404 is information; a client that hangs up is said to be
// gone; no empty version.
func TestLogsSayWhatHappened(t *testing.T) {
	inst := start(t, nil)
	if status, _ := fetchPage(t, inst.base+"/productdetails?slow=reviews:5s"); status != 200 {
		t.Fatalf("slow reviews: %d", status)
	}
	if status, _ := fetchPage(t, inst.base+"/productdetails?fail=product"); status != 502 {
		t.Fatalf("?fail=product: %d", status)
	}
	if status, _ := fetchPage(t, inst.base+"/product/999999"); status != 404 {
		t.Fatalf("unknown product: %d", status)
	}
	// A client that reads the start of a page and hangs up.
	conn, err := net.Dial("tcp", strings.TrimPrefix(inst.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /product/3 HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 512)
	if _, err := conn.Read(buf); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	eventually(t, "the hung-up page's request line", func() bool {
		return strings.Contains(inst.logs.String(), `"path":"/product/3"`)
	})
	logs := inst.logs.String()

	if l := logLine(t, logs, "fragment failed", map[string]any{"fragment": "reviews"}); l == nil {
		t.Errorf("no failure line for reviews:\n%s", logs)
	} else {
		if l["timeout_ms"] != 1000.0 {
			t.Errorf("reviews failure: timeout_ms %v, want 1000 (its registry entry's deadline): %v", l["timeout_ms"], l)
		}
		if e, _ := l["elapsed_ms"].(float64); e < 1000 || e > 5000 {
			t.Errorf("reviews failure: elapsed_ms %v, want about 1000: %v", l["elapsed_ms"], l)
		}
		if !strings.Contains(fmt.Sprint(l["error"]), "timed out after 1000 ms") {
			t.Errorf("reviews failure: error %q, want it to say timed out after 1000 ms", l["error"])
		}
	}
	if l := logLine(t, logs, "fragment failed", map[string]any{"fragment": "product", "level": "INFO"}); l == nil {
		t.Errorf("the unknown product's 404 is not logged at info:\n%s", logs)
	}
	if l := logLine(t, logs, "request", map[string]any{"status": 502.0, "level": "WARN"}); l == nil {
		t.Errorf("the 502 page's request line is not a warning:\n%s", logs)
	}
	if l := logLine(t, logs, "request", map[string]any{"path": "/product/3", "client_gone": true}); l == nil {
		t.Errorf("the page whose client hung up is not logged with client_gone:\n%s", logs)
	}
	for _, line := range jsonLines(t, logs) {
		if v, ok := line["version"]; ok && v == "" {
			t.Errorf("an empty version: %v", line)
			break
		}
	}

	// A fragment cut at its deadline in the middle of its body.
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<p>start of the body")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<main><micro-frontend id="x" timeout="200ms"/></main>`)
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, fmt.Sprintf(`{"x": %q}`, frag.URL))
	own := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg})
	fetchPage(t, own.base+"/")
	l := logLine(t, own.logs.String(), "fragment failed", map[string]any{"fragment": "x"})
	if l == nil || l["cut"] != true || l["timeout_ms"] != 200.0 || !strings.Contains(fmt.Sprint(l["error"]), "timed out after 200 ms") {
		t.Errorf("a fragment cut at its deadline: %v, want cut, timeout_ms 200 and timed out after 200 ms:\n%s", l, own.logs)
	}
}

// "registry published" counts the entries refused beside those in use.
func TestRegistryPublishedCountsRefusedEntries(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>a</p>`)
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, `{"good": "http://127.0.0.1:1/", "bad": 42}`)
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg}, "-dev")
	if l := logLine(t, inst.logs.String(), "registry published", nil); l == nil || l["entries"] != 1.0 || l["refused"] != 1.0 {
		t.Errorf("one good entry, one bad: %v, want entries 1, refused 1", l)
	}
	writeFile(t, reg, `{"bad": 42, "worse": true}`)
	inst = start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg}, "-dev")
	if l := logLine(t, inst.logs.String(), "registry published", nil); l == nil || l["entries"] != 0.0 || l["refused"] != 2.0 {
		t.Errorf("every entry bad: %v, want entries 0, refused 2", l)
	}
}

// A missing argument is named; an unknown subcommand is called so, with
// the list; composer help is the top-level help; validate's counts are
// plural only when they should be.
func TestCommandLineSaysWhatIsMissing(t *testing.T) {
	env := func(string) string { return "" }
	runCmd := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(t.Context(), append([]string{"composer"}, args...), env, &out, &out)
		return out.String(), err
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"register", "onlyid"}, `register: missing ENDPOINT_OR_JSON after the id "onlyid"`},
		{[]string{"register"}, `register: missing ID and ENDPOINT_OR_JSON (or -file)`},
		{[]string{"publish", "somedir"}, `publish: missing the s3:// location after "somedir"`},
		{[]string{"publish"}, `publish: missing DIR and s3://bucket/prefix/`},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"; the subcommands are validate, publish, register, healthcheck`[:30]},
	}
	for _, tt := range tests {
		if _, err := runCmd(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("composer %v: %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	if _, err := runCmd("frobnicate"); err != nil {
		for _, c := range commands {
			if !strings.Contains(err.Error(), c.name) {
				t.Errorf("composer frobnicate: %v, want the subcommands listed (%s missing)", err, c.name)
			}
		}
	}
	out, err := runCmd("help")
	if err != nil || !strings.Contains(out, "usage: composer [flags]") || !strings.Contains(out, "healthcheck") {
		t.Errorf("composer help: %v\n%s\nwant the top-level help", err, out)
	}

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>a</p>`)
	if out, err := runCmd("validate", dir); err != nil || !strings.Contains(out, "ok: 1 template, 1 route\n") {
		t.Errorf("validate one template, one route: %v %q, want ok: 1 template, 1 route", err, out)
	}
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html", "/b": "b.html"}`)
	writeFile(t, filepath.Join(dir, "b.html"), `<p>b</p>`)
	if out, err := runCmd("validate", dir); err != nil || !strings.Contains(out, "ok: 2 templates, 2 routes\n") {
		t.Errorf("validate two: %v %q, want ok: 2 templates, 2 routes", err, out)
	}
}

// A registry file that is not there, a registry that is a URL, and a
// scheme in the allowed hosts are refused with the setting named.
func TestRegistryAndHostSettingErrors(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>a</p>`)
	tests := []struct {
		env       map[string]string
		args      []string
		want, not string
	}{
		{args: []string{"-registry", "/nonexistent.json"}, want: `-registry "/nonexistent.json": no such file`, not: "open "},
		{env: map[string]string{"COMPOSER_REGISTRY": "/nonexistent.json"}, want: `COMPOSER_REGISTRY="/nonexistent.json": no such file`},
		{args: []string{"-registry", "http://x"}, want: `-registry "http://x": want ssm:/prefix/ or a local JSON file`},
		{args: []string{"-allowed-hosts", "a.example,http://x"}, want: `-allowed-hosts: "http://x": want a host name`},
	}
	for _, tt := range tests {
		args := append([]string{"composer", "-addr", "127.0.0.1:0", "-admin-addr", "", "-templates", dir}, tt.args...)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second) // one that starts serves until then
		err := run(ctx, args, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.not != "" && strings.Contains(err.Error(), tt.not)) {
			t.Errorf("env %v args %v: %v, want an error containing %q (and not %q)", tt.env, tt.args, err, tt.want, tt.not)
		}
	}
}

// A template folder that disappears is named by its path, and the line
// that says it is back says for how long it was gone.
func TestTemplateFolderOutageNamesTheFolder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "site")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>a</p>`)
	reg := filepath.Join(root, "registry.json")
	writeFile(t, reg, `{}`)
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg, "COMPOSER_REFRESH": "30ms"})
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	var down map[string]any
	eventually(t, "the outage logged", func() bool {
		down = logLine(t, inst.logs.String(), "templates source unavailable; serving the last good set", nil)
		return down != nil
	})
	if e := fmt.Sprint(down["error"]); !strings.Contains(e, dir) || strings.Contains(e, "stat .") {
		t.Errorf("outage error %q: want the folder's path %s, not \"stat .\"", e, dir)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	eventually(t, "the folder back", func() bool {
		back = logLine(t, inst.logs.String(), "templates source available again", nil)
		return back != nil
	})
	if ms, ok := back["down_for_ms"].(float64); !ok || ms <= 0 {
		t.Errorf("available again: %v, want down_for_ms", back)
	}
}

// The admin flag's help names every path it serves; the demo's /static/
// answers 404, not to be kept, for a missing file and for a folder.
func TestAdminHelpAndStaticNotFound(t *testing.T) {
	var help strings.Builder
	_ = run(t.Context(), []string{"composer", "-h"}, func(string) string { return "" }, &help, &help)
	for _, line := range strings.Split(help.String(), "\n") {
		if strings.Contains(line, "the admin listener:") {
			for _, p := range []string{"/metrics", "/status", "/debug/pprof/"} {
				if !strings.Contains(line, p) {
					t.Errorf("-admin-addr's help lacks %s: %s", p, line)
				}
			}
		}
	}
	inst := start(t, nil)
	for _, p := range []string{"/static/nope.css", "/static/", "/static/shell/", "/static/shell"} {
		resp, err := http.Get(inst.base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, Cache-Control %q, want 404 and no-store\n%.200s", p, resp.StatusCode, resp.Header.Get("Cache-Control"), body)
		}
	}
}

// The demo's cart control leads somewhere: no link to a fragment id that
// no element has; the reviews fallback keeps its heading.
func TestDemoCartAndReviewsFallback(t *testing.T) {
	inst := start(t, nil)
	status, page := fetchPage(t, inst.base+"/productdetails?fail=reviews")
	if status != 200 {
		t.Fatalf("?fail=reviews: %d", status)
	}
	for _, m := range regexp.MustCompile(`href="#([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(page, `id="`+m[1]+`"`) {
			t.Errorf("a link to #%s, which no element of the page is", m[1])
		}
	}
	if !strings.Contains(page, `class="cart"`) {
		t.Errorf("no cart control on the page")
	}
	fallback := regexp.MustCompile(`(?s)<section class="fallback"[^>]*>.*?</section>`).FindString(page)
	if !strings.Contains(fallback, "<h2") {
		t.Errorf("the reviews fallback has no heading: %q", fallback)
	}
}

// A visitor who leaves while a required fragment's body streams cuts a
// page that must not end as if whole: it is aborted. That abort is the
// visitor's doing, as an optional fragment's cut is: the request line is
// information with client_gone, not a warning (old code: "request
// aborted" at WARN for every visitor who left such a page).
func TestAVisitorLeavingARequiredFragmentIsNoWarning(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<p>first half</p>")
		w.(http.Flusher).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer frag.Close()
	env := onePageSite(t, `<p>before</p><micro-frontend id="f" errorbehaviour="error"/><p>after</p>`, frag.URL)
	env["COMPOSER_LOG_LEVEL"] = "debug"
	inst := start(t, env)
	conn, err := net.Dial("tcp", strings.TrimPrefix(inst.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	var got strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), "first half") {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read %q: %v", got.String(), err)
		}
		got.Write(buf[:n])
	}
	conn.Close()
	eventually(t, "the page's request line", func() bool {
		return strings.Contains(inst.logs.String(), `"path":"/"`) && strings.Contains(inst.logs.String(), `"status":200`)
	})
	logs := inst.logs.String()
	for _, line := range jsonLines(t, logs) {
		if line["path"] == "/" && (line["msg"] == "request" || line["msg"] == "request aborted") {
			if line["level"] != "INFO" || line["client_gone"] != true {
				t.Errorf("the request line of a page its visitor left: %v", line)
			}
			return
		}
	}
	t.Errorf("no request line for the page:\n%s", logs)
}
