package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/templates"
)

// composer validate reports each layout problem once, as file:line:
// message in the file that has it, and a fragment of a layout once, at
// the layout's line, however many pages use it.
func TestValidateLayoutProblems(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/a": "a.html", "/b": "b.html", "/c": "c.html", "/d": "d.html"}`)
	writeFile(t, filepath.Join(dir, "shell.html"), "<body>\n<mfe-region name=main></mfe-region>\n</body>\n")
	writeFile(t, filepath.Join(dir, "a.html"), "\n<mfe-layout src=\"nope.html\">\n</mfe-layout>\n")
	writeFile(t, filepath.Join(dir, "b.html"), "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"mian\">x</mfe-region>\n</mfe-layout>\n")
	writeFile(t, filepath.Join(dir, "c.html"), "<mfe-layout src=\"d.html\">\n</mfe-layout>\n")
	writeFile(t, filepath.Join(dir, "d.html"), "\n\n<mfe-layout src=\"c.html\"></mfe-layout>\n")
	lines, err := runValidate(t, dir)
	if err == nil {
		t.Fatal("validate passed")
	}
	want := []string{
		filepath.Join(dir, "a.html") + `:2: layout "nope.html" not found`,
		filepath.Join(dir, "b.html") + `:2: region "mian": layout shell.html has no such region (it has "main")`,
		filepath.Join(dir, "d.html") + `:3: layout cycle: c.html → d.html → c.html`,
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

	// A fragment of the layout that is not registered: once, in the layout.
	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/a": "a.html", "/b": "b.html"}`)
	writeFile(t, filepath.Join(dir, "shell.html"), "<body>\n<micro-frontend id=\"header\"/>\n<mfe-region name=main></mfe-region>\n</body>\n")
	for _, p := range []string{"a.html", "b.html"} {
		writeFile(t, filepath.Join(dir, p), "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"main\"><micro-frontend id=\"x\"/></mfe-region>\n</mfe-layout>\n")
	}
	reg := filepath.Join(t.TempDir(), "r.json")
	writeFile(t, reg, `{"x": "http://x.internal/"}`)
	lines, err = runValidate(t, dir, "-registry", reg)
	if err == nil {
		t.Fatal("validate passed")
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], filepath.Join(dir, "shell.html")+`:2: fragment "header" is not in the registry`) {
		t.Errorf("lines:\n%s", strings.Join(lines, "\n"))
	}
}

// The demo's pages use its one layout and validate.
func TestValidateDemoLayout(t *testing.T) {
	lines, err := runValidate(t, "../templates")
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	for _, page := range []string{"catalog.html", "404.html", "error.html"} {
		b, err := templates.FS.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), `<mfe-layout src="shell.html">`) {
			t.Errorf("%s does not use the demo's layout", page)
		}
	}
	if _, err := os.Stat("../templates/shell.html"); err != nil {
		t.Error(err)
	}
}

// A page that uses a layout is served byte for byte as the same page
// written whole, fragments (the layout's and its own) and error page too.
func TestServeLayoutPage(t *testing.T) {
	dir := t.TempDir()
	header := fragmentServer(t, `<header>H</header>`)
	product := fragmentServer(t, `<p>the product</p>`)
	reg := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, reg, `{"header": "`+header.URL+`/", "product": "`+product.URL+`/"}`)
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/layout": "page.html", "/flat": "flat.html"}`)
	writeFile(t, filepath.Join(dir, "shell.html"), "<!doctype html>\n<html>\n<head>\n<mfe-region name=\"head\"><title>Shop</title></mfe-region>\n</head>\n<body>\n<micro-frontend id=\"header\"/>\n<mfe-region name=\"main\"></mfe-region>\n</body>\n</html>\n")
	writeFile(t, filepath.Join(dir, "page.html"), "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"main\">\n<main>\n<micro-frontend id=\"product\" errorbehaviour=\"error\"/>\n</main>\n</mfe-region>\n</mfe-layout>\n")
	writeFile(t, filepath.Join(dir, "flat.html"), "<!doctype html>\n<html>\n<head>\n<title>Shop</title>\n</head>\n<body>\n<micro-frontend id=\"header\"/>\n<main>\n<micro-frontend id=\"product\" errorbehaviour=\"error\"/>\n</main>\n</body>\n</html>\n")
	writeFile(t, filepath.Join(dir, "404.html"), "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"head\"><title>Not found</title></mfe-region>\n<mfe-region name=\"main\">\n<p>gone</p>\n</mfe-region>\n</mfe-layout>\n")
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": reg})

	status, withLayout := fetchPage(t, inst.base+"/layout")
	_, flat := fetchPage(t, inst.base+"/flat")
	if status != 200 || withLayout != flat {
		t.Errorf("%d:\n%s\nwant, as the flat page:\n%s", status, withLayout, flat)
	}
	if !strings.Contains(withLayout, "<header>H</header>\n<main>\n<p>the product</p>\n</main>") {
		t.Errorf("fragments missing:\n%s", withLayout)
	}
	status, notFound := fetchPage(t, inst.base+"/nothing")
	want := "<!doctype html>\n<html>\n<head>\n<title>Not found</title>\n</head>\n<body>\n\n<p>gone</p>\n</body>\n</html>\n"
	if status != 404 || notFound != want {
		t.Errorf("404 page: %d %q\nwant %q", status, notFound, want)
	}
}
