package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// Browser tests of what the HTML guard (package htmlguard) keeps a
// fragment from doing to the page around it, where only a browser can
// tell: Go's parser, the guard's oracle, implements neither declarative
// shadow roots nor the behaviour of id references.

// A fragment cannot take over the page with a declarative shadow root: a
// <template shadowrootmode> at its top level would attach a shadow root to
// the slot's parent, the page's <body> or <main>, and the page's own
// content would no longer be rendered (issue 25, item 1). A shadow root
// on the fragment's own element (Podium's useShadowDOM) still attaches.
func TestBrowserFragmentsCannotAttachShadowRootsToThePage(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/header": // the outside attack's fragment
			fmt.Fprint(w, `<header id="frag-header">Shop</header><template shadowrootmode="open"><h1 id="fake">Your basket</h1><a href="https://evil.example/pay">Pay here</a></template>`)
		case "/closed": // every attribute of the family, after the fragment's own elements closed
			fmt.Fprint(w, `<div><span>x</span></div><template shadowrootmode="closed" shadowrootdelegatesfocus shadowrootclonable shadowrootserializable><p>fake</p></template>`)
		case "/podlet": // Podium's useShadowDOM: the fragment's own custom element
			fmt.Fprint(w, `<my-podlet id="podlet"><template shadowrootmode="open"><p id="inside">podlet content</p><slot></slot></template><span id="light">light</span></my-podlet>`)
		}
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><html><head><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,"></head><body><micro-frontend id="header" timeout="10s"/>
<p id="body-content">the page's body content</p>
<main id="main"><micro-frontend id="closed" timeout="10s"/><p id="main-content">the page's main content</p>
<div id="podslot"><micro-frontend id="podlet" timeout="10s"/></div>
</main></body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"header": %q, "closed": %q, "podlet": %q}`, frag.URL+"/header", frag.URL+"/closed", frag.URL+"/podlet"))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CSP": demoCSP, "COMPOSER_CACHE_BYTES": "0"})
	b := newBrowser(t, 800, 600)
	b.open(inst.base + "/")
	b.do(b.until(`document.readyState === "complete"`))
	got := eval[string](b, `(() => {
		const q = s => document.querySelector(s);
		const shown = e => !!e && e.getClientRects().length > 0;
		const r = [];
		// chrome.dom.openOrClosedShadowRoot is not there: a closed root
		// shows in what is rendered.
		if (document.body.shadowRoot) r.push("the page's <body> has a shadow root");
		if (q("#main").shadowRoot) r.push("the page's <main> has a shadow root");
		for (const id of ["body-content", "main-content", "frag-header"]) {
			if (!shown(document.getElementById(id))) r.push("#" + id + " is not rendered");
		}
		const p = q("#podlet");
		if (!p || !p.shadowRoot) r.push("the podlet's own element has no shadow root");
		else {
			const inside = p.shadowRoot.querySelector("#inside");
			if (!shown(inside) || inside.textContent !== "podlet content") r.push("the podlet's shadow root is not rendered");
			if (!shown(q("#light"))) r.push("the podlet's slotted content is not rendered");
		}
		if (q("#podlet > template")) r.push("the podlet's template is still a template");
		return r.join("; ");
	})()`)
	if got != "" {
		t.Error(got)
	}
	if p := b.seen(); len(p) > 0 {
		t.Errorf("problems under the strict CSP:\n%v", p)
	}
}
