package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/awstest"
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
