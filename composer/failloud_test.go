package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
)

// problemLine is the one form every problem takes: file:line[:col]: message.
var problemLine = regexp.MustCompile(`^\S+:\d+(:\d+)?: \S`)

// runValidate runs `composer validate args...` and returns its output lines
// and error.
func runValidate(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), append([]string{"composer", "validate"}, args...), os.Getenv, &out, io.Discard)
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), err
}

// Every problem once, as file:line[:col]: message, naming the file it is
// in: registry problems in the registry file with their lines, no
// follow-on line from routes.json for a broken template, and a summary
// that does not blame the templates for the registry.
func TestValidateEveryProblemOnceInItsFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html", "/b": "b.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "<p>\n<micro-frontend/>\n")
	writeFile(t, filepath.Join(dir, "b.html"), `<micro-frontend id="x"/>`)
	reg := filepath.Join(t.TempDir(), "r.json")
	writeFile(t, reg, "{\n  \"x\": \"http://x.internal/\",\n  \"nav\": 42,\n  \"fn\": \"reviews-fn\",\n  \"ok-fn\": {\"endpoint\": \"reviews-fn\", \"loader\": \"lambda\"}\n}\n")

	lines, err := runValidate(t, dir, "-registry", reg)
	if err == nil {
		t.Fatal("validate passed")
	}
	want := []string{
		filepath.Join(dir, "a.html") + `:2: <micro-frontend> without id`,
		reg + `:3: fragment "nav": a JSON number`,
		reg + `:4: fragment "fn": endpoint "reviews-fn" is a bare function name: write {"endpoint": "reviews-fn", "loader": "lambda"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("line %d: %s\nwant prefix %s", i+1, l, want[i])
		}
		if !problemLine.MatchString(l) {
			t.Errorf("line %d is not file:line: message: %s", i+1, l)
		}
	}
	if msg := err.Error(); !strings.Contains(msg, "1 in "+dir) || !strings.Contains(msg, "2 in "+reg) {
		t.Errorf("summary %q: want 1 problem in the folder and 2 in the registry", msg)
	}

	// A truncated routes.json and a registry file that is not JSON.
	writeFile(t, filepath.Join(dir, "a.html"), `<micro-frontend id="x"/>`)
	writeFile(t, filepath.Join(dir, "routes.json"), "{\n  \"/\": \"a.html\",\n")
	writeFile(t, reg, "{\n  \"x\": \"http://x.internal/\",\n  \"y\": }\n")
	lines, err = runValidate(t, dir, "-registry", reg)
	if err == nil {
		t.Fatal("validate passed")
	}
	want = []string{
		filepath.Join(dir, "routes.json") + `:3:1: the file ends inside the route table`,
		reg + `:3:8: invalid character '}'`,
		reg + `: note: the templates' fragment ids were not checked against it`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("line %d: %s\nwant prefix %s", i+1, l, want[i])
		}
	}
}

// register refuses what the server would not do: a JSON number, a bare
// function name without its loader; -file says where.
func TestRegisterRefusesWhatTheServerWouldNotDo(t *testing.T) {
	w := &awsWorld{ssm: awstest.NewSSM(t)}
	w.env = awstest.Env("", w.ssm.URL, "", "")
	for _, entry := range []string{`42`, `reviews-fn`, `{"endpoint": "reviews-fn"}`} {
		err := run(context.Background(), []string{"composer", "register", "nav", entry}, w.getenv, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("register nav %s: accepted", entry)
		}
	}
	if err := run(context.Background(), []string{"composer", "register", "nav", `{"endpoint": "reviews-fn", "loader": "lambda"}`}, w.getenv, io.Discard, io.Discard); err != nil {
		t.Errorf("register of a function name with its loader: %v", err)
	}
	file := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, file, "{\n  \"a\": \"http://a.internal/\",\n  \"nav\": 42\n}")
	var out strings.Builder
	err := run(context.Background(), []string{"composer", "register", "-file", file}, w.getenv, &out, io.Discard)
	if err == nil || !strings.Contains(out.String()+err.Error(), file+`:3: fragment "nav": a JSON number`) {
		t.Errorf("register -file with a number entry: %v\n%s", err, out.String())
	}
	if n := w.ssm.Calls("PutParameter"); n != 2 { // the good single entry and its bump
		t.Errorf("%d PutParameter calls, want 2: nothing from the bad file", n)
	}
}

// startOrExit runs the server with env and reports what it did first:
// started listening (then it is stopped, and served is true), or returned
// (its error); stderr is everything it wrote there.
func startOrExit(t *testing.T, env map[string]string) (served bool, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"composer", "-addr", "127.0.0.1:0", "-admin-addr", "", "-log-format", "json"}, func(k string) string { return env[k] }, io.Discard, logs)
	}()
	deadline := time.Now().Add(safety)
	for {
		select {
		case err := <-done:
			return false, logs.String(), err
		default:
		}
		if strings.Contains(logs.String(), `"msg":"listening"`) {
			cancel()
			<-done
			return true, logs.String(), nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("neither served nor returned; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Outside the development mode, a local folder or registry file that is
// invalid at start-up stops the process with the lines validate prints.
func TestStartupRefusesABrokenLocalFolderOrRegistryFile(t *testing.T) {
	good := map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": `<micro-frontend id="x"/>`}
	goodReg := `{"x": "http://127.0.0.1:9/"}`
	for _, tt := range []struct {
		name   string
		change map[string]string // file -> content; "" removes it
		reg    string
		want   []string // lines, with DIR and REG for the paths
	}{
		{"no routes.json", map[string]string{"routes.json": ""}, goodReg, []string{"DIR/routes.json: missing"}},
		{"truncated routes.json", map[string]string{"routes.json": "{\"/\": \"a.html\""}, goodReg, []string{"DIR/routes.json:1:15: the file ends inside the route table"}},
		{"route to a missing template", map[string]string{"routes.json": "{\"/\": \"a.html\",\n\"/b\": \"b.html\"}"}, goodReg, []string{`DIR/routes.json:2: route "/b": template "b.html" not found`}},
		{"template that does not compile", map[string]string{"a.html": "\n<micro-frontend id=\"x\" timeout=\"soon\"/>"}, goodReg, []string{`DIR/a.html:2: timeout="soon"`}},
		{"registry entry a number", nil, "{\n\"x\": 42}", []string{`REG:2: fragment "x": a JSON number`}},
		{"registry file not JSON", nil, "{\n\"x\": }", []string{`REG:2:6: invalid character '}'`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := maps.Clone(good)
			maps.Copy(files, tt.change)
			for name, content := range files {
				if content != "" {
					writeFile(t, filepath.Join(dir, name), content)
				}
			}
			reg := filepath.Join(t.TempDir(), "registry.json")
			if tt.reg != "" {
				writeFile(t, reg, tt.reg)
			}
			served, stderr, err := startOrExit(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg})
			if served {
				t.Fatalf("served a broken site; logs:\n%s", stderr)
			}
			if err == nil || !strings.Contains(err.Error(), "COMPOSER_DEV") {
				t.Errorf("error %v: want one that names the development mode", err)
			}
			for _, w := range tt.want {
				w = strings.NewReplacer("DIR", dir, "REG", reg).Replace(w)
				if !strings.Contains("\n"+stderr, "\n"+w) {
					t.Errorf("stderr lacks the line %q:\n%s", w, stderr)
				}
			}
		})
	}
	// A registry file that is not there is a setting's error, in any mode.
	dir := t.TempDir()
	for name, content := range good {
		writeFile(t, filepath.Join(dir, name), content)
	}
	reg := filepath.Join(t.TempDir(), "registry.json")
	served, _, err := startOrExit(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg})
	if want := `COMPOSER_REGISTRY="` + reg + `": no such file`; served || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("registry file missing: served %v, error %v; want %q", served, err, want)
	}
}

// In the development mode a broken folder is served (503 until it is
// fixed), reloaded, and the log never speaks of a last good copy that does
// not exist.
func TestDevModeServes503UntilTheFolderIsFixed(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<b>x</b>") }))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "\n<micro-frontend id=\"x\" timeout=\"soon\"/>")
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, fmt.Sprintf("{\"x\": %q,\n\"y\": 42}", frag.URL))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg, "COMPOSER_REFRESH": "50ms"}, "-dev")

	for _, path := range []string{"/", "/nope"} {
		resp, err := http.Get(inst.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s before a good load: %d, Retry-After %q, Cache-Control %q; want 503, a Retry-After, no-store",
				path, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
		}
	}
	if status, _ := fetchPage(t, inst.base+"/readyz"); status != 503 {
		t.Errorf("readyz: %d, want 503", status)
	}
	logs := inst.logs.String()
	if strings.Contains(logs, "last good") {
		t.Errorf("the log speaks of a last good copy, but there is none:\n%s", logs)
	}
	for _, want := range []string{`"file":"a.html","line":2`, `"id":"y"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}

	writeFile(t, filepath.Join(dir, "a.html"), `<micro-frontend id="x"/>`)
	eventually(t, "fixed folder served", func() bool {
		status, page := fetchPage(t, inst.base+"/")
		return status == 200 && page == "<b>x</b>"
	})
	writeFile(t, filepath.Join(dir, "a.html"), `<micro-frontend id="x" timeout="later"/>`)
	eventually(t, "broken again: the last good set keeps serving, and the log says so", func() bool {
		return strings.Contains(inst.logs.String(), "the last good set keeps serving")
	})
	if status, page := fetchPage(t, inst.base+"/"); status != 200 || page != "<b>x</b>" {
		t.Errorf("after breaking it again: %d %q, want the last good page", status, page)
	}
}

// A refused change (a template set that does not compile, a registry entry
// that does not parse) counts in a metric of its own; /readyz stays 200
// and says which source refused a change and since when, naming no file
// or endpoint; the admin listener has the details.
func TestARefusedChangeIsVisibleToOperators(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<b>x</b>") }))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "page.html"}`)
	writeFile(t, filepath.Join(dir, "page.html"), `<micro-frontend id="x"/>`)
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, fmt.Sprintf(`{"x": %q}`, frag.URL))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg, "COMPOSER_REFRESH": "50ms"})
	if status, body := fetchPage(t, inst.base+"/readyz"); status != 200 || body != "ready\n" {
		t.Fatalf("readyz: %d %q", status, body)
	}

	writeFile(t, filepath.Join(dir, "page.html"), "\n<micro-frontend id=\"x\" timeout=\"soon\"/>")
	eventually(t, "refused template change counted", func() bool {
		return metricValue(t, inst.admin, "composer_source_refused_total", `{source="templates"}`) == 1
	})
	status, body := fetchPage(t, inst.base+"/readyz")
	if status != 200 || !regexp.MustCompile(`(?m)^templates: changes refused since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`).MatchString(body) {
		t.Errorf("readyz after a refused template change: %d %q", status, body)
	}
	if strings.Contains(body, "page.html") || strings.Contains(body, dir) {
		t.Errorf("readyz names a file: %q", body)
	}
	_, details := fetchPage(t, inst.admin+"/status")
	if !strings.Contains(details, `page.html:2: timeout=\"soon\"`) || !strings.Contains(details, dir) {
		t.Errorf("admin /status lacks the template problem and its source:\n%s", details)
	}

	writeFile(t, reg, fmt.Sprintf("{\"x\": %q,\n\"y\": 42}", frag.URL))
	eventually(t, "refused registry entry counted", func() bool {
		return metricValue(t, inst.admin, "composer_source_refused_total", `{source="registry"}`) == 1
	})
	status, body = fetchPage(t, inst.base+"/readyz")
	if status != 200 || !strings.Contains(body, "\nregistry: changes refused since ") || strings.Contains(body, reg) || strings.Contains(body, frag.URL) {
		t.Errorf("readyz after a refused registry entry: %d %q", status, body)
	}
	_, details = fetchPage(t, inst.admin+"/status")
	if !strings.Contains(details, reg+`:2: fragment \"y\": a JSON number`) {
		t.Errorf("admin /status lacks the registry problem:\n%s", details)
	}

	// Fixed: the notices go.
	writeFile(t, filepath.Join(dir, "page.html"), `<micro-frontend id="x"/> v2`)
	writeFile(t, reg, fmt.Sprintf(`{"x": %q}`, frag.URL))
	eventually(t, "notices cleared once good copies are published", func() bool {
		_, body := fetchPage(t, inst.base+"/readyz")
		return body == "ready\n"
	})
}

// A template's loader that would send a registered function name to
// another transport is a problem: the server would fail that fragment.
func TestValidateTemplateLoaderAgainstTheEntry(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "<p>\n<micro-frontend id=\"fn\" loader=\"url\"/>\n<micro-frontend id=\"ok\" loader=\"lambda\"/>\n<micro-frontend id=\"web\" loader=\"lambda\"/>")
	reg := filepath.Join(t.TempDir(), "r.json")
	writeFile(t, reg, `{"fn": {"endpoint": "reviews", "loader": "lambda"}, "ok": {"endpoint": "reviews", "loader": "lambda"}, "web": "https://web.internal/"}`)
	lines, err := runValidate(t, dir, "-registry", reg)
	if err == nil {
		t.Fatal("validate passed")
	}
	want := filepath.Join(dir, "a.html") + `:2: fragment "fn": loader="url", but its entry is the Lambda function name "reviews"`
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("lines:\n%s\nwant one: %s", strings.Join(lines, "\n"), want)
	}
}

// In the development mode, a registry file that is not JSON leaves the
// server not ready and every page a 503, not a page of fallbacks.
func TestDevModeBrokenRegistryFileIsNotServedAsFallbacks(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<micro-frontend id="x">fallback</micro-frontend>`)
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, "{\n\"x\": }")
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg, "COMPOSER_REFRESH": "50ms"}, "-dev")
	expect503(t, inst.base+"/")
	if status, body := fetchPage(t, inst.base+"/readyz"); status != 503 || !strings.Contains(body, "registry not loaded") {
		t.Errorf("readyz: %d %q", status, body)
	}
	if logs := inst.logs.String(); strings.Contains(logs, "last good") || !strings.Contains(logs, reg+`:2:6: invalid character`) {
		t.Errorf("logs: want the file's problem at its line and column, and no last good copy:\n%s", logs)
	}
}

// A template timeout at or below the entry's fixed hedge delay means the
// second request is never sent: a problem, as a hedge not below the
// entry's own timeout is (found by the outside test of hedging).
func TestValidateHedgeDelayAgainstTheTemplateTimeout(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "<p>\n<micro-frontend id=\"slow\" timeout=\"20ms\"/>\n<micro-frontend id=\"ok\" timeout=\"100ms\"/>\n<micro-frontend id=\"auto\" timeout=\"20ms\"/>")
	reg := filepath.Join(t.TempDir(), "r.json")
	writeFile(t, reg, `{"slow": {"endpoint": "https://a.internal/", "hedge": "30ms"}, "ok": {"endpoint": "https://a.internal/", "hedge": "30ms"}, "auto": {"endpoint": "https://a.internal/", "hedge": "auto"}}`)
	lines, err := runValidate(t, dir, "-registry", reg)
	if err == nil {
		t.Fatal("validate passed")
	}
	want := filepath.Join(dir, "a.html") + `:2: fragment "slow": its entry's hedge 30ms is not below this slot's timeout 20ms`
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("lines:\n%s\nwant one: %s", strings.Join(lines, "\n"), want)
	}
}

// A typo in a template and an unknown fragment id in the same file are
// reported in one run: the registry cross-check reads the slots written in
// the files, whether or not they compile (it used to wait for the typo to
// be fixed before it said anything about the id).
func TestValidateReportsAnUnknownIDBesideATypo(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "<p>\n<micro-frontend id=\"header\" timout=\"1s\"/>\n<micro-frontend id=\"zzz\"/>\n")
	reg := filepath.Join(t.TempDir(), "r.json")
	writeFile(t, reg, `{"header": "http://header.internal/"}`)
	lines, err := runValidate(t, dir, "-registry", reg)
	if err == nil {
		t.Fatal("validate passed")
	}
	want := []string{
		filepath.Join(dir, "a.html") + `:2:`,
		filepath.Join(dir, "a.html") + `:3: fragment "zzz" is not in the registry`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("line %d: %s\nwant prefix %s", i+1, l, want[i])
		}
	}
	if !strings.Contains(lines[0], "timout") {
		t.Errorf("the typo's line does not name it: %s", lines[0])
	}
}

// An entry that trusts its fragment's scripts lets an injected script run
// too: validate names each one (a note, not a problem).
func TestValidateListsEntriesThatTrustTheirScripts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<micro-frontend id="legacy"/><micro-frontend id="react"/>`)
	reg := filepath.Join(t.TempDir(), "r.json")
	writeFile(t, reg, "{\n  \"react\": \"https://react.internal/\",\n  \"legacy\": {\"endpoint\": \"https://legacy.internal/\", \"trustScripts\": true}\n}\n")
	lines, err := runValidate(t, dir, "-registry", reg)
	if err != nil {
		t.Fatalf("validate failed: %v\n%s", err, strings.Join(lines, "\n"))
	}
	want := reg + `:3: note: entry "legacy" trusts its scripts (trustScripts)`
	if len(lines) != 2 || !strings.HasPrefix(lines[0], want) || !strings.HasPrefix(lines[1], "ok:") {
		t.Errorf("lines:\n%s\nwant: %s..., then ok", strings.Join(lines, "\n"), want)
	}
}

// A registry file that does not parse cannot be checked against: validate
// says that the fragment ids went unchecked, rather than saying nothing of
// them until the file is fixed.
func TestValidateSaysTheIDsWentUncheckedWhenTheRegistryDoesNotParse(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<micro-frontend id="nosuch"/>`)
	reg := filepath.Join(t.TempDir(), "r.json")
	writeFile(t, reg, "{\n  \"a\": \"http://a.internal/\",\n}\n")
	lines, err := runValidate(t, dir, "-registry", reg)
	if err == nil {
		t.Fatal("validate passed")
	}
	want := reg + ": note: the templates' fragment ids were not checked against it"
	if len(lines) != 2 || !strings.Contains(lines[0], "trailing comma") || !strings.HasPrefix(lines[1], want) {
		t.Errorf("lines:\n%s\nwant the syntax error, then: %s", strings.Join(lines, "\n"), want)
	}
}
