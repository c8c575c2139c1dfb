package template

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A file with a typo still says which fragments it names, so a checker can
// report an unknown id in the same run as the typo, not after it is fixed.
func TestSlotsOfFilesThatDoNotCompile(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{
		"page.html": []byte("<!doctype html>\n<mfe-layout src=\"shell.html\">\n<mfe-region name=\"main\">\n" +
			"<micro-frontend id=\"header\" timout=\"1s\"/>\n<micro-frontend id=\"zzz\" timeout=\"300ms\"/>\n</mfe-region>\n</mfe-layout>\n"),
		"shell.html":  []byte("<body>\n<micro-frontend id=\"footer\" loader=\"lambda\"/>\n<mfe-region name=\"main\"></mfe-region>\n</body>\n"),
		"broken.html": []byte("<micro-frontend id=\"a\" async errorbehaviour=\"error\"/>\n<micro-frontend id=\"b\" async=\"maybe\"/>\n"),
		"routes.json": []byte(`{"/": "page.html", "/b": "broken.html"}`),
	}
	_, err := BuildSet(files)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("BuildSet: %v, want Errors", err)
	}
	// Every markup problem of every file, at once.
	got := err.Error()
	for _, want := range []string{
		`page.html:4: unknown attribute "timout"`,
		`broken.html:1: fragment "a" is both async and errorbehaviour="error"`,
		`broken.html:2: async="maybe"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	type at struct {
		File, ID string
		Line     int
		Timeout  string
		Loader   Loader
	}
	var slots []at
	for _, f := range Slots(files) {
		slots = append(slots, at{f.File, f.ID, f.Line, f.Timeout.String(), f.Loader})
	}
	want := []at{
		{"broken.html", "a", 1, "0s", ""},
		{"broken.html", "b", 2, "0s", ""},
		{"page.html", "header", 4, "0s", ""},
		{"page.html", "zzz", 5, "300ms", ""},
		{"shell.html", "footer", 2, "0s", LoaderLambda},
	}
	if d := cmp.Diff(want, slots); d != "" {
		t.Errorf("Slots (-want +got):\n%s", d)
	}
}
