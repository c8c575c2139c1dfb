package template

import (
	"strings"
	"testing"
)

// errorLines builds the set and returns its errors as strings.
func errorLines(t *testing.T, files map[string]string) []string {
	t.Helper()
	_, err := buildSet(t, files)
	if err == nil {
		return nil
	}
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("error %v (%T), want Errors", err, err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	return got
}

func wantErrors(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("got  %s\nwant %s...", got[i], want[i])
		}
	}
}

// A file that ends inside a tag (a half-written save) does not compile:
// served, the browser would drop the unfinished tag and what it stands for.
func TestFileEndingInsideATag(t *testing.T) {
	t.Parallel()
	shell := "<html><body>\n<mfe-region name=main></mfe-region>\n</body></html>\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"fragment", map[string]string{"page.html": "<html><body><p>x</p>\n<micro-frontend id=\"footer\""},
			`page.html:2: the file ends inside the tag <micro-frontend`},
		{"region in a layout", map[string]string{"page.html": "<mfe-layout src=shell.html></mfe-layout>", "shell.html": "<html><body>\n<mfe-region name=\"main\""},
			`shell.html:2: the file ends inside the tag <mfe-region`},
		{"layout", map[string]string{"page.html": "<mfe-layout src=\"shell.html\"", "shell.html": shell},
			`page.html:1: the file ends inside the tag <mfe-layout`},
		{"any tag", map[string]string{"page.html": "<p>x</p>\n\n<div class=\"a\nb"},
			`page.html:3: the file ends inside the tag <div`},
		{"end tag", map[string]string{"page.html": "<p>x</p\n"},
			`page.html:1: the file ends inside the tag </p`},
		{"comment", map[string]string{"page.html": "<p>x</p>\n<!-- <micro-frontend id=a/>"},
			`page.html:2: the file ends inside a comment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantErrors(t, errorLines(t, tt.files), tt.want)
		})
	}
	// A lone "<" at the end is text, as a browser reads it.
	if got := errorLines(t, map[string]string{"page.html": "a <"}); len(got) > 0 {
		t.Errorf("a < at the end: %v", got)
	}
}

// Inside <title>, <script>, <style>, <textarea> and the other elements
// whose content HTML reads as text, layout and fragment markup is text:
// it is reported where it is written.
func TestMarkupInsideRawTextElements(t *testing.T) {
	t.Parallel()
	for _, el := range []string{"title", "script", "style", "textarea", "noscript", "xmp", "iframe", "noembed", "noframes", "TITLE"} {
		t.Run(el, func(t *testing.T) {
			t.Parallel()
			lower := strings.ToLower(el)
			got := errorLines(t, map[string]string{
				"shell.html": "<html><head>\n<" + el + ">The\n<mfe-region name=t>T</mfe-region></" + el + "></head>\n<body><mfe-region name=main>d</mfe-region></body></html>",
				"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=t>x</mfe-region>\n</mfe-layout>",
			})
			wantErrors(t, got, `shell.html:3: <mfe-region> inside <`+lower+`> is text to the browser`)
			got = errorLines(t, map[string]string{"page.html": "<body>\n<" + el + ">\n\n<micro-frontend id=a/></" + el + "></body>"})
			if lower == "script" { // a script may build the markup as a string
				wantErrors(t, got)
				return
			}
			wantErrors(t, got, `page.html:4: <micro-frontend> inside <`+lower+`> is text to the browser`)
		})
	}
	// Written as text, or closed before: no problem.
	if got := errorLines(t, map[string]string{"page.html": "<title>&lt;micro-frontend id=a/></title><script>x = '<micro-frontends'</script><style></style><micro-frontend id=b/>"}); len(got) > 0 {
		t.Errorf("escaped markup: %v", got)
	}
}

// A region commented out in a layout is not an error (that is how one is
// turned off), but a page that fills it is told where it went.
func TestRegionInsideAComment(t *testing.T) {
	t.Parallel()
	got := errorLines(t, map[string]string{
		"shell.html": "<html><body>\n<mfe-region name=main>d</mfe-region>\n<!--\n<mfe-region name=\"aside\"></mfe-region> -->\n</body></html>",
		"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=aside>x</mfe-region>\n</mfe-layout>",
	})
	wantErrors(t, got, `page.html:2: region "aside": layout shell.html has no such region (it has "main"; shell.html:4 has one inside a comment)`)
	if got := errorLines(t, map[string]string{
		"shell.html": "<html><body>\n<mfe-region name=main>d</mfe-region>\n<!--\n<mfe-region name=\"aside\"></mfe-region> -->\n</body></html>",
		"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=main>x</mfe-region>\n</mfe-layout>",
	}); len(got) > 0 {
		t.Errorf("a commented-out region: %v", got)
	}
}

// A UTF-8 byte order mark (as Windows editors write) at the start of a
// template or of routes.json is not content: it is dropped, and the rest
// of the bytes are kept as written.
func TestByteOrderMark(t *testing.T) {
	t.Parallel()
	const bom = "\xef\xbb\xbf"
	set, err := buildSet(t, map[string]string{
		"shell.html": bom + "<html><body>\r\n<mfe-region name=main>d</mfe-region>\n</body></html>",
		"page.html":  bom + "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"main\">\n<micro-frontend id=a/>\n</mfe-region>\n</mfe-layout>\n",
		"flat.html":  bom + "<p>\xef\xbb\xbf</p>",
		RoutesFile:   bom + `{"/": "page.html", "/flat": "flat.html", "/shell": "shell.html"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Templates["page.html"].String(), `"<html><body>\r\n" {a} "\n</body></html>"`; got != want {
		t.Errorf("page %s, want %s", got, want)
	}
	if got, want := set.Templates["flat.html"].String(), `"<p>\ufeff</p>"`; got != want {
		t.Errorf("flat %s, want %s", got, want)
	}
	if got := set.Templates["page.html"].Slots[0].Line; got != 3 {
		t.Errorf("fragment on line %d, want 3", got)
	}
	if len(set.Routes) != 3 {
		t.Errorf("routes %v", set.Routes)
	}
}

// Each problem is reported at the line of its cause, once, in file order.
func TestProblemLines(t *testing.T) {
	t.Parallel()
	shell := "<!DOCTYPE html>\n<html>\n<body>\n<mfe-region name=\"main\"><p>default main</p></mfe-region>\n</body>\n</html>\n"
	for _, tc := range []struct {
		name, page string
		want       []string
	}{
		{"text outside, on its own line", "<mfe-layout src=\"shell.html\">\n\n  hello\n<mfe-region name=\"main\">x</mfe-region>\n</mfe-layout>\n",
			[]string{`page.html:3: text outside <mfe-region>`}},
		{"an unclosed region ended by </mfe-layout>", "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"main\">x\n</mfe-layout>\n",
			[]string{`page.html:2: <mfe-region name="main"> is never closed: end it with </mfe-region> before </mfe-layout> (line 3)`}},
		{"a region and a layout left open", "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"main\">x\n",
			[]string{`page.html:1: <mfe-layout src="shell.html"> is never closed`, `page.html:2: <mfe-region name="main"> is never closed`}},
		{"in file order", "<mfe-layout src=\"shell.html\">\n<mfe-region name=\"main\"><micro-frontend/>\n<micro-frontend id=a>\n</mfe-region></mfe-layout>\n",
			[]string{`page.html:2: <micro-frontend> without id`, `page.html:3: <micro-frontend id="a"> is never closed: end it with </micro-frontend> before </mfe-region> (line 4)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantErrors(t, errorLines(t, map[string]string{"shell.html": shell, "page.html": tc.page}), tc.want...)
		})
	}
}
