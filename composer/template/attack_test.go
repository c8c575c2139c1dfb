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
