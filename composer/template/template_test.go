package template

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssr-mfe/composer/composer/inert"
)

func TestCompile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		want  string     // Template.String()
		slots []Fragment // compared without Fallback when nil
	}{
		{
			name: "no fragments",
			src:  "<!doctype html><p>Hi</p>",
			want: `"<!doctype html><p>Hi</p>"`,
		},
		{
			name:  "self-closing",
			src:   `<div><micro-frontend id="a"/></div>`,
			want:  `"<div>" {a} "</div>"`,
			slots: []Fragment{{ID: "a", Line: 1}},
		},
		{
			name: "all attributes",
			src:  "x\n<micro-frontend id=cat errorbehaviour=\"error\" timeout=\"250ms\" loader=LAMBDA data-team=\"t\"/>",
			want: `"x\n" {cat}`,
			slots: []Fragment{{
				ID: "cat", Required: true, Timeout: 250 * time.Millisecond, Loader: LoaderLambda, Line: 2,
			}},
		},
		{
			name: "american spelling accepted",
			src:  `<micro-frontend id=a errorbehavior=error />`,
			want: `{a}`,
			slots: []Fragment{{
				ID: "a", Required: true, Line: 1,
			}},
		},
		{
			name:  "children are the fallback",
			src:   "<micro-frontend id=\"r\">\n  <p>sorry</p>\n</micro-frontend>!",
			want:  `{r} "!"`,
			slots: []Fragment{{ID: "r", Fallback: []byte("\n  <p>sorry</p>\n"), Line: 1}},
		},
		{
			name: "async gets an outlet before the last body end tag",
			src:  "<html><head><title>t</title></head><body><micro-frontend id=rec async><i>..</i></micro-frontend><p>after</p></body></html>",
			want: `"<html><head><title>t</title>" {head} "</head><body>" {rec} "<p>after</p>" {async} "</body></html>"`,
			slots: []Fragment{{
				ID: "rec", Async: true, Fallback: []byte("<i>..</i>"), Line: 1,
			}},
		},
		{
			name:  "async without body goes last",
			src:   `<micro-frontend id=rec async/>x`,
			want:  `{rec} "x" {async}`,
			slots: []Fragment{{ID: "rec", Async: true, Line: 1}},
		},
		{
			name:  "async after the body end tag moves the outlet to the end",
			src:   `<body></body><micro-frontend id=rec async/>`,
			want:  `"<body></body>" {rec} {async}`,
			slots: []Fragment{{ID: "rec", Async: true, Line: 1}},
		},
		{
			name: "not a fragment inside script, comment or attribute",
			src:  `<script>let s = "<micro-frontend id=x/>";</script><!-- <micro-frontend id=y/> --><a title="<micro-frontend id=z/>">`,
			want: `"<script type=\"mfe/inert\">let s = \"<micro-frontend id=x/>\";</script>{activator}<!-- <micro-frontend id=y/> --><a title=\"<micro-frontend id=z/>\">"`,
		},
		{
			name: "upper-case tag",
			src:  `<MICRO-FRONTEND ID="a"></Micro-Frontend>`,
			want: `{a}`,
			slots: []Fragment{{
				ID: "a", Fallback: []byte{}, Line: 1,
			}},
		},
		{
			name: "head outlet only once, outside fallbacks",
			src:  `<head></head><head></head>`,
			want: `"<head>" {head} "</head><head></head>"`,
		},
		{
			name: "async false is not async",
			src:  `<micro-frontend id=a async=false />`,
			want: `{a}`,
			slots: []Fragment{{
				ID: "a", Line: 1,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl, err := Compile("page.html", []byte(tt.src))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := strings.ReplaceAll(tpl.String(), strconv.Quote(inert.Tag)[1:len(strconv.Quote(inert.Tag))-1], "{activator}"); got != tt.want {
				t.Errorf("parts:\n got %s\nwant %s", got, tt.want)
			}
			if tt.slots == nil {
				tt.slots = []Fragment{}
			}
			got := append([]Fragment{}, tpl.Slots...)
			for i := range got {
				if i < len(tt.slots) && tt.slots[i].Fallback == nil && len(got[i].Fallback) == 0 {
					got[i].Fallback = nil
				}
			}
			if diff := cmp.Diff(tt.slots, got); diff != "" {
				t.Errorf("slots (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"missing id", "\n\n<micro-frontend/>", []string{"page.html:3: <micro-frontend> without id"}},
		{"empty id", `<micro-frontend id=" "/>`, []string{"page.html:1: empty id"}},
		{"bad errorbehaviour", `<micro-frontend id=a errorbehaviour=ignore />`, []string{`page.html:1: errorbehaviour="ignore": want "hide" or "error"`}},
		{"bad timeout", `<micro-frontend id=a timeout=300 />`, []string{`page.html:1: timeout="300": want a Go duration`}},
		{"negative timeout", `<micro-frontend id=a timeout=-1s />`, []string{`page.html:1: timeout="-1s": must be more than zero`}},
		{"bad loader", `<micro-frontend id=a loader=ftp />`, []string{`page.html:1: loader="ftp"`}},
		{"bad async", `<micro-frontend id=a async=sometimes />`, []string{`page.html:1: async="sometimes"`}},
		{"unknown attribute", `<micro-frontend id=a src=x />`, []string{`page.html:1: unknown attribute "src"`}},
		{"duplicate attribute", `<micro-frontend id=a errorbehaviour=hide errorbehavior=error />`, []string{`page.html:1: attribute "errorbehaviour" given twice`}},
		{"unclosed", "<p>\n<micro-frontend id=a>\n<p>fallback", []string{`page.html:2: <micro-frontend id="a"> is never closed`}},
		{"stray end tag", "\n</micro-frontend>", []string{"page.html:2: </micro-frontend> without a matching <micro-frontend>"}},
		{"nested", "<micro-frontend id=a>\n<micro-frontend id=b/></micro-frontend>", []string{`page.html:2: <micro-frontend> inside <micro-frontend id="a"> (opened on line 1)`}},
		{"required async", `<micro-frontend id=a async errorbehaviour=error />`, []string{`page.html:1: fragment "a" is both async and errorbehaviour="error"`}},
		{"every error is listed", "<micro-frontend/>\n<micro-frontend id=b timeout=x/>", []string{"page.html:1: <micro-frontend> without id", `page.html:2: timeout="x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile("page.html", []byte(tt.src))
			if err == nil {
				t.Fatal("Compile succeeded, want an error")
			}
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("error is %T, want Errors", err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d:\n got %s\nwant prefix %s", i, errs[i], w)
				}
			}
		})
	}
}

// rawIsSubsequence checks that the raw parts of tpl appear in src, in order,
// exactly as written but for the scripts, which are written inert, each
// with its activator (inertScripts).
func rawIsSubsequence(t *testing.T, src []byte, tpl *Template) {
	t.Helper()
	rest := inertScripts(src)
	for _, p := range tpl.Parts {
		if p.Kind != Raw {
			continue
		}
		i := bytes.Index(rest, p.Raw)
		if i < 0 {
			t.Fatalf("raw part %q is not in the source after the previous part", p.Raw)
		}
		rest = rest[i+len(p.Raw):]
	}
}

func joinRaw(tpl *Template) []byte {
	var b bytes.Buffer
	for _, p := range tpl.Parts {
		if p.Kind == Raw {
			b.Write(p.Raw)
		}
	}
	return b.Bytes()
}

func FuzzCompile(f *testing.F) {
	f.Add([]byte(`<html><head></head><body><micro-frontend id=a async><p>x</p></micro-frontend></body></html>`))
	f.Add([]byte(`<micro-frontend id="b" errorbehaviour="error" timeout="1s"/>`))
	f.Fuzz(func(t *testing.T, src []byte) {
		tpl, err := Compile("fuzz.html", src)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		rawIsSubsequence(t, src, tpl)
		if lower := bytes.ToLower(src); !bytes.Contains(lower, []byte(ElementName)) && !bytes.Contains(lower, []byte("mfe-")) {
			if got := joinRaw(tpl); !bytes.Equal(got, inertScripts(src)) {
				t.Fatalf("bytes outside fragments changed:\n got %q\nwant %q", got, src)
			}
		}
		for _, p := range tpl.Parts {
			if p.Kind == Slot && (p.Slot < 0 || p.Slot >= len(tpl.Slots)) {
				t.Fatalf("slot index %d out of range", p.Slot)
			}
		}
	})
}

func TestLoadSet(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"routes.json": {Data: []byte(`{"/": "home.html", "/product/{id}": "home.html"}`)},
		"home.html":   {Data: []byte(`<micro-frontend id=a/>`)},
		"error.html":  {Data: []byte(`oops`)},
		"404.html":    {Data: []byte(`gone`)},
		"notes.txt":   {Data: []byte(`ignored`)},
	}
	s, err := LoadSet(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Routes) != 2 || s.Routes[1].Pattern != "/product/{id}" || s.Routes[1].Template.Name != "home.html" {
		t.Errorf("routes = %+v", s.Routes)
	}
	if got := string(s.ErrorPage(404)); got != "gone" {
		t.Errorf("ErrorPage(404) = %q", got)
	}
	if got := string(s.ErrorPage(502)); got != "oops" {
		t.Errorf("ErrorPage(502) = %q", got)
	}
}

func TestLoadSetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no routes", map[string]string{"a.html": "x"}, []string{"routes.json: missing"}},
		{"not an object", map[string]string{"routes.json": `["/"]`}, []string{"routes.json:1: want a JSON object"}},
		{"unknown template", map[string]string{"routes.json": "{\n\"/\": \"nope.html\"\n}"}, []string{`routes.json:2: route "/": template "nope.html" not found`}},
		{"bad pattern", map[string]string{"routes.json": `{"/{id": "a.html"}`, "a.html": "x"}, []string{`routes.json:1: route "/{id": not a valid chi pattern`}},
		{"relative pattern", map[string]string{"routes.json": `{"a": "a.html"}`, "a.html": "x"}, []string{`routes.json:1: route "a": a pattern starts with /`}},
		{"value not a string", map[string]string{"routes.json": `{"/": 3}`}, []string{`routes.json:1: route "/": the value must be a template name`}},
		{"duplicate route", map[string]string{"routes.json": "{\"/\": \"a.html\",\n\"/\": \"a.html\"}", "a.html": "x"}, []string{`routes.json:2: route "/" given twice`}},
		// The template's own error says it all: no follow-on line from routes.json.
		{"broken template and its route", map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "\n<micro-frontend/>"}, []string{
			"a.html:2: <micro-frontend> without id",
		}},
		{"truncated", map[string]string{"routes.json": "{\"/\": \"a.html\",\n\"/b\": \"a.html\"", "a.html": "x"}, []string{
			"routes.json:2:15: the file ends inside the route table: is it complete (a missing } or \")?",
		}},
		{"truncated in a string", map[string]string{"routes.json": "{\"/\": \"a.ht", "a.html": "x"}, []string{
			"routes.json:1:12: the file ends inside the route table",
		}},
		{"syntax error with its column", map[string]string{"routes.json": "{\"/\": \"a.html\",\n  }", "a.html": "x"}, []string{
			"routes.json:2:3: invalid character '}'",
		}},
		{"empty", map[string]string{"routes.json": " \n", "a.html": "x"}, []string{
			"routes.json:1:1: the file is empty",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string][]byte{}
			for k, v := range tt.files {
				files[k] = []byte(v)
			}
			_, err := BuildSet(files)
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("error %v (%T), want Errors", err, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors:\n%s\nwant %d", strings.Join(got, "\n"), len(tt.want))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("got %s\nwant prefix %s", got[i], tt.want[i])
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	src := []byte(strings.Repeat("<div class=row><p>Some text that is not a fragment.</p></div>\n", 200) +
		`<micro-frontend id=a/><micro-frontend id=b errorbehaviour=error timeout=1s/><micro-frontend id=c async><p>x</p></micro-frontend></body>`)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("bench.html", src); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzRoutes(f *testing.F) {
	for _, s := range []string{
		`{"/": "a.html", "/product/{id}": "a.html"}`, `{"/{id": "a.html"}`, `{"/": 3}`, `[]`, `{"/": "a.html",}`,
		`{"/a/*": "a.html", "/b/{x:[0-9]+}": "a.html"}`, `{"/": "a.html"} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, routes []byte) {
		set, err := BuildSet(map[string][]byte{"routes.json": routes, "a.html": []byte("<micro-frontend id=x/>")})
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, r := range set.Routes {
			if r.Template == nil || checkPattern(r.Pattern) != nil {
				t.Fatalf("published a bad route %+v", r)
			}
		}
	})
}
