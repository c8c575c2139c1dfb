package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// htmlValidate is the html-validate of tools/ (npm ci there; .ci/run
// does), or a skip (a failure in CI, which installs it).
func htmlValidate(t *testing.T) string {
	t.Helper()
	bin, err := filepath.Abs("../tools/node_modules/.bin/html-validate")
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		msg := "html-validate is not installed: (cd tools && npm ci); .ci/run does"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// Every composed demo page passes html-validate's recommended rules: the
// product pages, a page with a fallback, the error pages and the 404
// pages, each composed by the real server from the demo fragments.
func TestDemoPagesPassHTMLValidate(t *testing.T) {
	bin := htmlValidate(t)
	inst := start(t, nil, "-fragment-timeout", "300ms")
	dir := t.TempDir()
	pages := []struct {
		path   string
		status int
	}{
		{"/", 200},
		{"/productdetails", 200},
		{"/product/1", 200},
		{"/product/2", 200},
		{"/product/3", 200},
		{"/product/4", 200},
		{"/product/2?fail=reviews", 200},          // the reviews fallback
		{"/productdetails?fail=product", 502},     // error.html
		{"/productdetails?slow=product:10s", 504}, // 504.html
		{"/product/999", 404},                     // 404.html, from the product fragment's 404
		{"/no/such/page", 404},                    // 404.html, no route
	}
	var files []string
	for i, p := range pages {
		status, page := fetchPage(t, inst.base+p.path)
		if status != p.status {
			t.Errorf("%s: %d, want %d", p.path, status, p.status)
		}
		f := filepath.Join(dir, fmt.Sprintf("page%02d.html", i))
		if err := os.WriteFile(f, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	args := append([]string{"--config", "../tools/htmlvalidate.json", "--formatter", "text"}, files...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		report := string(out)
		for i, f := range files {
			report = strings.ReplaceAll(report, f, pages[i].path)
		}
		t.Errorf("html-validate: %v\n%s", err, report)
	}
}
