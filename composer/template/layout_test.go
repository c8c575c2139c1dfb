package template

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssr-mfe/composer/templates"
)

func buildSet(t *testing.T, files map[string]string) (*Set, error) {
	t.Helper()
	in := map[string][]byte{}
	for k, v := range files {
		in[k] = []byte(v)
	}
	if _, ok := in[RoutesFile]; !ok {
		in[RoutesFile] = []byte(`{"/": "page.html"}`)
	}
	return BuildSet(in)
}

// samePage compares compiled pages as the stream writer sees them: parts
// and slots, not where each slot is written.
func samePage(t *testing.T, name string, got, want *Template) {
	t.Helper()
	if diff := cmp.Diff(want.Parts, got.Parts); diff != "" {
		t.Errorf("%s: parts differ from the flat page (-flat +layout):\n%s", name, diff)
	}
	if diff := cmp.Diff(want.Slots, got.Slots, cmpopts.IgnoreFields(Fragment{}, "Line", "File")); diff != "" {
		t.Errorf("%s: slots differ from the flat page (-flat +layout):\n%s", name, diff)
	}
	if got.Async != want.Async {
		t.Errorf("%s: %d async slots, flat page %d", name, got.Async, want.Async)
	}
}

// The demo's pages use one layout; each compiles into exactly the parts of
// the flat page it replaced (testdata/flat), so serving costs nothing more,
// and the error pages are the same bytes.
func TestDemoLayoutCompilesToTheFlatPages(t *testing.T) {
	t.Parallel()
	set, err := LoadSet(templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	flat := os.DirFS("testdata/flat")
	names, _ := fs.Glob(flat, "*.html")
	if len(names) != 3 {
		t.Fatalf("flat pages: %v", names)
	}
	for _, name := range names {
		src, _ := fs.ReadFile(flat, name)
		want, err := Compile(name, src)
		if err != nil {
			t.Fatal(err)
		}
		got := set.Templates[name]
		if got == nil {
			t.Fatalf("%s not in the demo set", name)
		}
		samePage(t, name, got, want)
		if got.String() != want.String() {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		if code, ok := errorPageCode(name); ok {
			if page := set.ErrorPage(code); string(page) != string(src) {
				t.Errorf("error page %s:\n got %q\nwant %q", name, page, src)
			}
		}
	}
	for _, f := range set.Templates["catalog.html"].Slots {
		if f.File != "" {
			t.Errorf("fragment %s: File %q, want the page's own", f.ID, f.File)
		}
	}
}

func TestLayouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string // page.html's String()
		flat  string // or: the flat page it must equal
	}{
		{
			name: "defaults where unfilled",
			files: map[string]string{
				"shell.html": "<html><head><mfe-region name=title><title>Shop</title></mfe-region></head><body><mfe-region name=main><p>empty</p></mfe-region></body></html>",
				"page.html":  `<mfe-layout src="shell.html"><mfe-region name="main"><p>hi</p></mfe-region></mfe-layout>`,
			},
			flat: "<html><head><title>Shop</title></head><body><p>hi</p></body></html>",
		},
		{
			name: "line breaks at a region's edges are the region's",
			files: map[string]string{
				"shell.html": "<body>\n<mfe-region name=main>\n  default\n</mfe-region>\n</body>",
				"page.html":  "<mfe-layout src=shell.html>\n  <mfe-region name=main>\n    <p>hi</p>\n  </mfe-region>\n</mfe-layout>\n",
			},
			flat: "<body>\n    <p>hi</p>\n</body>",
		},
		{
			name: "fragments in the layout and in the page, async outlet before the layout's </body>",
			files: map[string]string{
				"shell.html": "<html><head></head><body><micro-frontend id=header/><mfe-region name=main></mfe-region><micro-frontend id=footer>f</micro-frontend></body></html>",
				"page.html":  "<mfe-layout src=shell.html><mfe-region name=main><micro-frontend id=recs async>..</micro-frontend></mfe-region></mfe-layout>",
			},
			flat: "<html><head></head><body><micro-frontend id=header/><micro-frontend id=recs async>..</micro-frontend><micro-frontend id=footer>f</micro-frontend></body></html>",
		},
		{
			name: "a layout that uses a layout; a page fills the regions of both",
			files: map[string]string{
				"base.html":    "<html><head><mfe-region name=head></mfe-region></head><body><mfe-region name=body></mfe-region><mfe-region name=foot>(c)</mfe-region></body></html>",
				"twocol.html":  "<mfe-layout src=base.html><mfe-region name=body><nav><mfe-region name=nav>menu</mfe-region></nav><main><mfe-region name=main></mfe-region></main></mfe-region></mfe-layout>",
				"page.html":    "<mfe-layout src=twocol.html><mfe-region name=main>M</mfe-region><mfe-region name=head><title>T</title></mfe-region><mfe-region name=foot/></mfe-layout>",
				"layouts.html": "",
			},
			flat: "<html><head><title>T</title></head><body><nav>menu</nav><main>M</main></body></html>",
		},
		{
			name: "layout src relative to the page's folder, or from the top",
			files: map[string]string{
				"layouts/shell.html": "[<mfe-region name=x></mfe-region>]",
				"page.html":          "<mfe-layout src=/layouts/shell.html><mfe-region name=x>1</mfe-region></mfe-layout>",
				"sub/b.html":         "<mfe-layout src=../layouts/shell.html><mfe-region name=x>2</mfe-region></mfe-layout>",
			},
			flat: "[1]",
		},
		{
			name: "a layout alone renders its defaults",
			files: map[string]string{
				"page.html": "<p><mfe-region name=x>default <micro-frontend id=a/></mfe-region></p>",
			},
			want: `"<p>default " {a} "</p>"`,
		},
		{
			name: "comments and blank lines around the regions",
			files: map[string]string{
				"shell.html": "<mfe-region name=x></mfe-region>",
				"page.html":  "<!-- the home page -->\n<mfe-layout src=shell.html>\n<!-- x -->\n<mfe-region name=x>X</mfe-region>\n</mfe-layout>\n",
			},
			flat: "X",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, err := buildSet(t, tt.files)
			if err != nil {
				t.Fatal(err)
			}
			got := set.Templates["page.html"]
			if tt.want != "" {
				if got.String() != tt.want {
					t.Errorf("got %s\nwant %s", got, tt.want)
				}
				return
			}
			want, err := Compile("flat.html", []byte(tt.flat))
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			samePage(t, tt.name, got, want)
		})
	}
}

func TestLayoutFragmentsSayWhereTheyAre(t *testing.T) {
	t.Parallel()
	set, err := buildSet(t, map[string]string{
		"shell.html": "<body>\n<micro-frontend id=header/>\n<mfe-region name=main></mfe-region>\n</body>",
		"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=main>\n\n<micro-frontend id=product/>\n</mfe-region>\n</mfe-layout>",
	})
	if err != nil {
		t.Fatal(err)
	}
	tpl := set.Templates["page.html"]
	var got []string
	for _, f := range tpl.Slots {
		got = append(got, fmt.Sprintf("%s@%s:%d", f.ID, tpl.File(f), f.Line))
	}
	want := []string{"header@shell.html:2", "product@page.html:4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestLayoutErrors(t *testing.T) {
	t.Parallel()
	shell := "<html>\n<body>\n<mfe-region name=main></mfe-region>\n<mfe-region name=aside></mfe-region>\n</body>\n</html>\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing layout", map[string]string{
			"page.html": "\n<mfe-layout src=nope.html>\n<mfe-region name=main/>\n</mfe-layout>",
		}, []string{`page.html:2: layout "nope.html" not found`}},
		{"a region the layout does not have", map[string]string{
			"shell.html": shell,
			"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=main>x</mfe-region>\n<mfe-region name=mian>y</mfe-region>\n</mfe-layout>",
		}, []string{`page.html:3: region "mian": layout shell.html has no such region (it has "aside", "main")`}},
		{"a cycle", map[string]string{
			"a.html":    "<mfe-layout src=b.html>\n</mfe-layout>",
			"b.html":    "\n\n<mfe-layout src=a.html></mfe-layout>",
			"page.html": "x",
		}, []string{`b.html:3: layout cycle: a.html → b.html → a.html`}},
		{"a template that is its own layout", map[string]string{
			"page.html": "<mfe-layout src=page.html></mfe-layout>",
		}, []string{`page.html:1: layout cycle: page.html → page.html`}},
		{"a region filled twice", map[string]string{
			"shell.html": shell,
			"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=main>x</mfe-region>\n<mfe-region name=main>y</mfe-region>\n</mfe-layout>",
		}, []string{`page.html:3: region "main" filled twice (first on line 2)`}},
		{"content outside the regions", map[string]string{
			"shell.html": shell,
			"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=main>x</mfe-region>\n<p>lost</p>\n</mfe-layout>",
		}, []string{`page.html:3: <p> outside <mfe-region>`}},
		{"content before the layout", map[string]string{
			"shell.html": shell,
			"page.html":  "<!doctype html>\n<mfe-layout src=shell.html></mfe-layout>",
		}, []string{`page.html:1: <!doctype> outside <mfe-region>`}},
		{"a region declared twice", map[string]string{
			"page.html": "<mfe-region name=a></mfe-region>\n<mfe-region name=a></mfe-region>",
		}, []string{`page.html:2: region "a" declared twice (first on line 1)`}},
		{"regions do not nest", map[string]string{
			"page.html": "<mfe-region name=a>\n<mfe-region name=b></mfe-region></mfe-region>",
		}, []string{`page.html:2: <mfe-region name="b"> inside <mfe-region name="a"> (opened on line 1)`}},
		{"a region never closed", map[string]string{
			"shell.html": shell,
			"page.html":  "<mfe-layout src=shell.html>\n<mfe-region name=main>\nx\n</mfe-layout>",
		}, []string{`page.html:4: </mfe-layout> while <mfe-region name="main"> (line 2) is open`, `page.html:2: <mfe-region name="main"> is never closed`, `page.html:1: <mfe-layout src="shell.html"> is never closed`}},
		{"layout markup in a fallback", map[string]string{
			"page.html": "<micro-frontend id=a>\n<mfe-region name=x></mfe-region></micro-frontend>",
		}, []string{`page.html:2: <mfe-region> inside <micro-frontend id="a"> (opened on line 1)`, `page.html:2: </mfe-region> inside <micro-frontend id="a">`}},
		{"attributes", map[string]string{
			"page.html": "<mfe-layout href=shell.html>\n<mfe-region id=main></mfe-region></mfe-layout>",
		}, []string{`page.html:1: unknown attribute "href": <mfe-layout> takes src and data-*`, `page.html:1: <mfe-layout> without src`, `page.html:2: unknown attribute "id"`, `page.html:2: <mfe-region> without name`}},
		{"a second layout", map[string]string{
			"shell.html": shell,
			"page.html":  "<mfe-layout src=shell.html></mfe-layout>\n<mfe-layout src=shell.html></mfe-layout>",
		}, []string{`page.html:2: a second <mfe-layout>`}},
		{"a broken layout reports only its own problems", map[string]string{
			"shell.html": "<mfe-region name=main>\n<micro-frontend/></mfe-region>",
			"page.html":  "<mfe-layout src=shell.html><mfe-region name=main/></mfe-layout>",
		}, []string{`shell.html:2: <micro-frontend> without id`}},
		{"a page's own region shadowing an unfilled one of its layout", map[string]string{
			"shell.html": shell,
			"mid.html":   "<mfe-layout src=shell.html>\n<mfe-region name=main>\n<mfe-region name=aside></mfe-region>\n</mfe-region>\n</mfe-layout>",
			"page.html":  "x",
		}, []string{`mid.html:3: region "aside" is also a region of shell.html (shell.html:4)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := buildSet(t, tt.files)
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("error %v (%T), want Errors", err, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("got  %s\nwant %s...", got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLayoutErrorPage(t *testing.T) {
	t.Parallel()
	set, err := buildSet(t, map[string]string{
		"shell.html": "<body><micro-frontend id=h>H</micro-frontend><mfe-region name=main>?</mfe-region></body>",
		"404.html":   "<mfe-layout src=shell.html><mfe-region name=main>gone</mfe-region></mfe-layout>",
		"page.html":  "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(set.ErrorPage(404)); got != "<body>Hgone</body>" {
		t.Errorf("404 page %q", got)
	}
}
