package template

import (
	"errors"
	"strings"
	"testing"
)

// Routes that differ only in their parameters' names are the same route
// (the last would silently win): refused, with the line. A route table
// with no route is refused too.
func TestRoutesDifferingOnlyInParameterNamesAreDuplicates(t *testing.T) {
	page := []byte(`<p>x</p>`)
	for _, tt := range []struct {
		routes string
		want   string // "" for none
	}{
		{"{\n\"/p/{id}\": \"a.html\",\n\"/p/{name}\": \"a.html\"\n}", `routes.json:3: route "/p/{name}" is the same as "/p/{id}" (line 2)`},
		{"{\n\"/p/{id:[0-9]+}\": \"a.html\",\n\"/p/{n:[0-9]+}\": \"a.html\"\n}", `routes.json:3: route "/p/{n:[0-9]+}" is the same as "/p/{id:[0-9]+}" (line 2)`},
		{"{\n\"/p/{id:[0-9]{3}}/x\": \"a.html\",\n\"/p/{n:[0-9]{3}}/x\": \"a.html\"\n}", `routes.json:3: route "/p/{n:[0-9]{3}}/x" is the same as`},
		{"{\n\"/p/{id}\": \"a.html\",\n\"/p/{id:[0-9]+}\": \"a.html\",\n\"/q/{id}\": \"a.html\"\n}", ""},
		{"{}", `routes.json:1: no routes`},
		{"{\n}\n", `routes.json:1: no routes`},
	} {
		_, err := BuildSet(map[string][]byte{"a.html": page, RoutesFile: []byte(tt.routes)})
		var errs Errors
		errors.As(err, &errs)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.routes, err)
			}
			continue
		}
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want) {
			t.Errorf("%s: %v\nwant one problem starting %s", tt.routes, err, tt.want)
		}
	}
}

// An error page is sent as it is: a <micro-frontend> slot in it would
// reach the browser raw, so it is refused, with its line.
func TestErrorPagesHoldNoSlots(t *testing.T) {
	for _, name := range []string{"404.html", "error.html"} {
		_, err := BuildSet(map[string][]byte{
			"a.html":   []byte(`<p>x</p>`),
			name:       []byte("<h1>Not found</h1>\n<micro-frontend id=\"nav\"/>\n"),
			RoutesFile: []byte(`{"/": "a.html"}`),
		})
		var errs Errors
		errors.As(err, &errs)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), name+":2: ") || !strings.Contains(errs[0].Error(), "error page") {
			t.Errorf("%s with a slot: %v", name, err)
		}
	}
}

// With a layout, a fragment of the layout shows its fallback in an error
// page; one written in the error page's own regions is refused.
func TestErrorPageSlotsFromALayoutShowFallbacks(t *testing.T) {
	shell := []byte("<!doctype html><html><head></head><body><micro-frontend id=\"nav\"><nav>menu</nav></micro-frontend>\n<mfe-region name=\"body\"></mfe-region></body></html>")
	set, err := BuildSet(map[string][]byte{
		"shell.html": shell,
		"a.html":     []byte(`<mfe-layout src="shell.html"><mfe-region name="body"><p>a</p></mfe-region></mfe-layout>`),
		"404.html":   []byte(`<mfe-layout src="shell.html"><mfe-region name="body"><h1>Not found</h1></mfe-region></mfe-layout>`),
		RoutesFile:   []byte(`{"/": "a.html"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := string(set.ErrorPage(404)); !strings.Contains(p, "<nav>menu</nav>") || strings.Contains(p, "micro-frontend") {
		t.Errorf("404 page: %q", p)
	}
	_, err = BuildSet(map[string][]byte{
		"shell.html": shell,
		"a.html":     []byte(`<mfe-layout src="shell.html"><mfe-region name="body"><p>a</p></mfe-region></mfe-layout>`),
		"404.html":   []byte("<mfe-layout src=\"shell.html\"><mfe-region name=\"body\">\n<micro-frontend id=\"x\"/></mfe-region></mfe-layout>"),
		RoutesFile:   []byte(`{"/": "a.html"}`),
	})
	var errs Errors
	errors.As(err, &errs)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "404.html:2: ") {
		t.Errorf("a slot in the 404 page's own region: %v", err)
	}
}
