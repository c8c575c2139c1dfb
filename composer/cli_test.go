package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// An error about a setting names it as the user wrote it: the flag when
// it came from a flag, the environment variable when it came from there.
func TestSettingErrorsNameWhatTheUserTyped(t *testing.T) {
	tests := []struct {
		env       map[string]string
		args      []string
		want, not string
	}{
		{args: []string{"-refresh", "abc"}, want: `-refresh "abc": `, not: "COMPOSER_REFRESH"},
		{env: map[string]string{"COMPOSER_REFRESH": "abc"}, want: `COMPOSER_REFRESH="abc": `},
		{args: []string{"-flush-delay", "5s"}, want: `-flush-delay "5s": `, not: "COMPOSER_FLUSH_DELAY"},
		{args: []string{"-max-fragment-bytes", "1"}, want: `-max-fragment-bytes "1": `, not: "COMPOSER_MAX_FRAGMENT_BYTES"},
		{args: []string{"-cache-bytes", "-1"}, want: `-cache-bytes "-1": `, not: "COMPOSER_CACHE_BYTES"},
		{args: []string{"-max-pages", "-1"}, want: `-max-pages "-1": `, not: "COMPOSER_MAX_PAGES"},
		{env: map[string]string{"COMPOSER_MAX_PAGES": "many"}, want: `COMPOSER_MAX_PAGES="many": `},
		{args: []string{"-log-format", "xml"}, want: `-log-format "xml": `, not: "COMPOSER_LOG_FORMAT"},
		{args: []string{"-log-level", "loud"}, want: `-log-level "loud": `, not: "COMPOSER_LOG_LEVEL"},
		{args: []string{"-proxy", "nope"}, want: `-proxy: "nope": `, not: "COMPOSER_PROXY"},
		{args: []string{"-cdn-key-headers", "a b"}, want: `-cdn-key-headers: "a b" `, not: "COMPOSER_CDN_KEY_HEADERS"},
		{args: []string{"-csp", "script-src {nonce}"}, want: `-csp: {nonce}`, not: "COMPOSER_CSP"},
		{env: map[string]string{"COMPOSER_DEV": "maybe"}, want: `COMPOSER_DEV="maybe": `},
		{args: []string{"-templates", "/does/not/exist"}, want: `-templates "/does/not/exist": not a folder`, not: "COMPOSER_TEMPLATES"},
		{env: map[string]string{"COMPOSER_TEMPLATES": "/does/not/exist"}, want: `COMPOSER_TEMPLATES="/does/not/exist": not a folder`},
		{args: []string{"-templates", "s3:/x"}, want: `-templates "s3:/x": not a folder, nor s3://bucket/prefix/`},
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // run builds the AWS clients
	for _, tt := range tests {
		err := run(context.Background(), append([]string{"composer", "-addr", "127.0.0.1:0", "-admin-addr", ""}, tt.args...), func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.not != "" && strings.Contains(err.Error(), tt.not)) {
			t.Errorf("env %v args %v: %v, want an error containing %q (and not %q)", tt.env, tt.args, err, tt.want, tt.not)
		}
	}
}

// Every subcommand answers -h with its usage and success, and does
// nothing else (healthcheck does not fetch "-h"); the top-level help
// names every subcommand, each with a line of its own.
func TestEverySubcommandAnswersHelp(t *testing.T) {
	var top strings.Builder
	if err := run(context.Background(), []string{"composer", "-h"}, func(string) string { return "" }, &top, &top); err != nil {
		t.Fatalf("composer -h: %v", err)
	}
	names := []string{"validate", "publish", "register", "healthcheck"}
	for _, c := range commands {
		if !contains(names, c.name) {
			names = append(names, c.name)
		}
	}
	for _, name := range names {
		var out strings.Builder
		err := run(context.Background(), []string{"composer", name, "-h"}, func(string) string { return "" }, &out, &out)
		if err != nil {
			t.Errorf("composer %s -h: %v", name, err)
		}
		if !strings.Contains(out.String(), "usage: composer "+name) {
			t.Errorf("composer %s -h printed %q, want its usage", name, out.String())
		}
		lines := 0
		for _, line := range strings.Split(top.String(), "\n") {
			if f := strings.Fields(line); len(f) > 1 && (f[0] == name || f[0] == "composer" && f[1] == name) {
				lines++
			}
		}
		if lines != 1 {
			t.Errorf("composer -h has %d lines for %q, want 1:\n%s", lines, name, top.String())
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The start-up line points at a page of the set that was loaded: its
// first route, not the demo's /productdetails.
func TestListeningLinePointsAtTheFirstRoute(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/shop/{id}": "a.html", "/shop/": "a.html", "/about": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), `<p>shop</p>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, `{}`)
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile})
	sc := bufio.NewScanner(strings.NewReader(inst.logs.String()))
	for sc.Scan() {
		var line struct{ Msg, URL string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			// The first route without a parameter, one a browser can open.
			if want := strings.Replace(inst.base, "127.0.0.1", "localhost", 1) + "/shop/"; line.URL != want {
				t.Errorf("listening url = %q, want %q", line.URL, want)
			}
			return
		}
	}
	t.Fatalf("no listening line:\n%s", inst.logs)
}
