package stream_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/composer/registry"
)

// A podlet announces its assets in its Link header, as @podium/podlet 5
// writes it (asset-type=script|style, the script's attributes as
// parameters): each becomes its element, the stylesheet before the
// content, the script after it.
func TestPodiumLinkHeaderAssetsBecomeElements(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, link, want string }{
		{"module script and style, as the podlet writes them",
			`</podium/js/app.js>; type=module; asset-type=script, </podium/css/app.css>; type=text/css; rel=stylesheet; asset-type=style`,
			`<link rel="stylesheet" href="/podium/css/app.css">[P]<script type="mfe/inert" data-mfe-type="module" src="/podium/js/app.js"></script>{A}`},
		{"classic with every attribute",
			`<https://cdn.example/a.js>; type=default; async=true; crossorigin=use-credentials; integrity=sha384-abc+/=; asset-type=script`,
			`[P]<script type="mfe/inert" src="https://cdn.example/a.js" async crossorigin="use-credentials" integrity="sha384-abc+/="></script>{A}`},
		{"defer, crossorigin as a flag",
			`</b.js>; defer=true; crossorigin; asset-type=script`,
			`[P]<script type="mfe/inert" src="/b.js" defer crossorigin="anonymous"></script>{A}`},
		{"style announced by asset-type alone",
			`</s.css>; asset-type=style`,
			`<link rel="stylesheet" href="/s.css">[P]`},
		{"a comma and a semicolon inside a quoted parameter and inside the URL",
			`</a,b;c.js>; title="x, y; z"; asset-type=script, </t.css>; title="q\", r"; rel=stylesheet`,
			`<link rel="stylesheet" href="/t.css">[P]<script type="mfe/inert" src="/a,b;c.js"></script>{A}`},
		{"parameter names in any case, the first one of a name counts",
			`</u.js>; ASSET-TYPE=script; Type=module; type=text/javascript`,
			`[P]<script type="mfe/inert" data-mfe-type="module" src="/u.js"></script>{A}`},
		{"scripts outside today's URL rules are dropped",
			`<javascript:alert(1)>; asset-type=script, <data:text/javascript,alert(1)>; asset-type=script, </ok.js>; asset-type=script, <ftp://x/y.js>; asset-type=script, </a b.js>; asset-type=script`,
			`[P]<script type="mfe/inert" src="/ok.js"></script>{A}`},
		{"an unknown asset type, and a script type that is not JavaScript, render nothing",
			`</x.wasm>; asset-type=wasm, </data.json>; type=application/json; asset-type=script`,
			`[P]`},
		{"attribute values are escaped",
			`</q.js>; integrity="a\"><b>"; asset-type=script`,
			`[P]<script type="mfe/inert" src="/q.js" integrity="a&#34;&gt;&lt;b&gt;"></script>{A}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.register("p", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", tt.link)
				write(w, "[P]")
			})})
			_, got := get(t, e.page(`<micro-frontend id=p/>`, nil), nil)
			got = strings.ReplaceAll(got, inert.Tag, "{A}")
			if got != tt.want {
				t.Errorf("page:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// A script or a stylesheet URL is written once per page, whoever names
// it first: the registry's assets in the head, then the fragments' Link
// headers in page order, sync and async slots alike.
func TestAssetURLsAppearOncePerPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	link := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `</shared.js>; type=module; asset-type=script, </shared.css>; rel=stylesheet, </own.css>; asset-type=style, </app.js>; asset-type=script`)
		write(w, "[F]")
	}
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, link), Assets: registry.Assets{CSS: []string{"/shared.css"}, JS: []string{"/app.js"}}})
	e.register("b", registry.Entry{Endpoint: fragmentServer(t, link)})
	_, got := get(t, e.page(`<head></head><micro-frontend id=a/><micro-frontend id=b/><micro-frontend id=b async/>`, nil), nil)
	for _, u := range []string{`"/shared.js"`, `"/shared.css"`, `"/own.css"`, `"/app.js"`} {
		if n := strings.Count(got, u); n != 1 {
			t.Errorf("%s appears %d times, want once:\n%s", u, n, got)
		}
	}
}

// A registry script may be an object: a module, async, with crossorigin
// and integrity; the Link preload header asks for a module as one.
func TestRegistryScriptObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("m", registry.Entry{
		Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) { write(w, "[M]") }),
		Assets: registry.Assets{JS: []string{"/m.js", "/c.js"}, Scripts: map[string]registry.Script{
			"/m.js": {Type: "module", Crossorigin: "anonymous", Integrity: "sha256-xyz"},
			"/c.js": {Async: true},
		}},
	})
	resp, got := get(t, e.page(`<head></head><micro-frontend id=m/>`, nil), nil)
	got = strings.ReplaceAll(got, inert.Tag, "{A}")
	want := `<head><script type="mfe/inert" data-mfe-type="module" src="/m.js" crossorigin="anonymous" integrity="sha256-xyz"></script>{A}` + "\n" +
		`<script type="mfe/inert" src="/c.js" async></script>{A}` + "\n" + `</head>[M]`
	if got != want {
		t.Errorf("page:\n got %q\nwant %q", got, want)
	}
	if l := resp.Header.Get("Link"); l != `</m.js>; rel=modulepreload; crossorigin=anonymous, </c.js>; rel=preload; as=script` {
		t.Errorf("Link = %q", l)
	}
}
