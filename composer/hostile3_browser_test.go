package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/settings"
)

// chromiumPaddings are the characters Chromium 156 trims from a script's
// type before it compares it with the JavaScript MIME types, which the
// standard does not trim (the third outside attack of issue 25).
var chromiumPaddings = []string{"\v", "\u1680", "\u2000", "\u2003", "\u200a", "\u2028", "\u205f", "\u3000"}

// An injected script whose type is padded with a character Chromium trims
// does not run, in a sync or an async slot of a page without a
// Content-Security-Policy: the guard no longer takes it for a data block.
func TestBrowserPaddedScriptTypesNeverRun(t *testing.T) {
	var payload strings.Builder
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/evil.js" {
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprintf(w, "(window.pwned ||= []).push(%q)", "src "+r.URL.RawQuery)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, payload.String())
	}))
	defer frag.Close()
	for i, pad := range chromiumPaddings {
		for _, typ := range []string{"text/javascript" + pad, pad + "text/javascript", "module" + pad, pad + "TEXT/JavaScript"} {
			name := fmt.Sprintf("%d %q", i, typ)
			fmt.Fprintf(&payload, `<script type="%s">(window.pwned ||= []).push(%q)</script>`, typ, "inline "+name)
			fmt.Fprintf(&payload, `<script type="%s" src="%s/evil.js?%d"></script>`, typ, frag.URL, i)
		}
	}
	payload.WriteString(`<script type="application/json" id="data">{"kept": true}</script><p id="frag-end">end</p>`)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><html><head><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,"></head><body>
<div id="sync"><micro-frontend id="evil" timeout="10s"/></div>
<div id="async"><micro-frontend id="evil" timeout="10s" async/></div>
<div id="client"><micro-frontend id="evil" timeout="10s" client><p>…</p></micro-frontend></div>
</body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"evil": %q}`, frag.URL+"/"))
	// Without a policy every slot kind is exposed; under the demo's strict
	// policy the async mover and the island script insert the script.
	for _, csp := range []string{"", settings.DemoCSP} {
		t.Run(map[bool]string{true: "no CSP", false: "demo CSP"}[csp == ""], func(t *testing.T) {
			env := map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CACHE_BYTES": "0",
				"COMPOSER_ISLAND_KEYS": "k1=" + strings.Repeat("i", 40), "COMPOSER_ISLAND_KEY_ID": "k1"}
			if csp != "" {
				env["COMPOSER_CSP"] = csp
			}
			inst := start(t, env)
			b := newBrowser(t, 800, 600)
			b.open(inst.base + "/")
			b.do(b.until(`document.readyState === "complete" && document.querySelectorAll("#frag-end").length === 3`))
			// Give the src scripts the time to load and run.
			b.wait(`false`, 500*time.Millisecond)
			if got := eval[[]string](b, `window.pwned || []`); len(got) > 0 {
				t.Errorf("%d injected scripts with a padded type ran: %q", len(got), got)
			}
			if !eval[bool](b, `JSON.parse(document.getElementById("data").textContent).kept === true`) {
				t.Error("the fragment's JSON data block is not readable")
			}
		})
	}
}

// A fragment's <search> cannot let its end tags close the page's elements
// nor attach a shadow root to the page's element: Chromium's tree builder
// does not have search special, the standard does, and the guard followed
// the standard (the third outside attack of issue 25).
func TestBrowserSearchKeepsFragmentsInTheirSlot(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/escape":
			fmt.Fprint(w, `<dd><div><div><search><dt>x</dt></search></div></div><p id="escaped">ESCAPED</p></dd>`)
		case "/shadow":
			fmt.Fprint(w, `<li><div><search><li></li></search></div><template shadowrootmode="open"><h1 id="fake">FAKE CONTENT</h1></template></li>`)
		case "/form": // a fragment's own search form still works
			fmt.Fprint(w, `<search id="s"><form id="f"><input name="q"></form></search>`)
		}
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><html><head><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,"></head><body>
<div id="outer"><div id="inner"><micro-frontend id="escape" timeout="10s"/></div><p id="after-inner">after inner</p></div><p id="after-outer">after outer</p>
<div id="shost"><micro-frontend id="shadow" timeout="10s"/><p id="shost-content">the page's content</p></div>
<div id="fslot"><micro-frontend id="form" timeout="10s"/></div>
</body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"escape": %q, "shadow": %q, "form": %q}`, frag.URL+"/escape", frag.URL+"/shadow", frag.URL+"/form"))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CACHE_BYTES": "0"})
	b := newBrowser(t, 800, 600)
	b.open(inst.base + "/")
	b.do(b.until(`document.readyState === "complete"`))
	got := eval[string](b, `(() => {
		const q = s => document.querySelector(s);
		const parent = id => { const e = document.getElementById(id); return e && e.parentElement ? (e.parentElement.id || e.parentElement.localName) : "none" };
		const r = [];
		if (!q("#inner #escaped")) r.push("the fragment's #escaped is not in its slot (parent " + parent("escaped") + ")");
		if (parent("after-inner") !== "outer") r.push("the page's #after-inner is in " + parent("after-inner"));
		if (parent("after-outer") !== "body") r.push("the page's #after-outer is in " + parent("after-outer"));
		if (q("#shost").shadowRoot) r.push("the page's #shost has a shadow root");
		if (!q("#shost-content").getClientRects().length) r.push("the page's #shost-content is not rendered");
		if (!q("#fslot form#f input[name=q]")) r.push("the fragment's search form is not in its slot");
		return r.join("; ");
	})()`)
	if got != "" {
		t.Error(got)
	}
}
