package main

import (
	"path/filepath"
	"strings"
	"testing"
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
