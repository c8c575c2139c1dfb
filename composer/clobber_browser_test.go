package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ssr-mfe/composer/composer/settings"
)

// A fragment's markup, with no script at all (the page runs under a strict
// CSP), cannot take another fragment's async slot nor stop the async
// fragments after it from landing: the mover reaches the DOM through
// prototype methods that named elements (<img name=currentScript>,
// <form name=getElementById>) do not shadow, and the placeholders' ids
// carry a part chosen per page that a fragment cannot guess. The cases are
// the outside tester's (issue 12, finding F1); in this page the benign
// async slot is the third (index 2).
func TestBrowserFragmentsCannotClobberTheAsyncMover(t *testing.T) {
	cases := map[string]string{
		"clobber1": `<div id="mfe-async-2">stolen</div>`,
		"clobber2": `<img name="currentScript">`,
		"clobber3": `<form name="getElementById"></form>`,
		"clobber4": `<template id="mfe-async-2-content"><p id="evilrep">evil</p></template><img name="currentScript">`,
		"clobber5": `<mfe-placeholder id="mfe-async-2">x</mfe-placeholder>`,
		"clobber6": `<img name="body">`,
		"clobber7": `<form name="getElementById"></form><img name="currentScript"><img name="documentElement"><div id="mfe-async-2-content"></div>`,
	}
	var mu sync.Mutex
	gates := map[string]chan struct{}{}
	gate := func(c string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if gates[c] == nil {
			gates[c] = make(chan struct{})
		}
		return gates[c]
	}
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.URL.Query().Get("case")
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/sync":
			fmt.Fprint(w, cases[c]+`<i id="mark-sync"></i>`)
		case "/async":
			fmt.Fprint(w, cases[c]+`<i id="mark-async"></i>`)
		case "/benign":
			// Held until the browser shows both hostile fragments in the
			// page, so that their markup is there when the benign mover runs.
			select {
			case <-gate(c):
			case <-r.Context().Done():
				return
			}
			fmt.Fprint(w, `<p id="benign-content">benign</p>`)
		}
	}))
	defer frag.Close()
	defer func() { // a failed case must not hold a request for ever
		mu.Lock()
		defer mu.Unlock()
		for c, g := range gates {
			select {
			case <-g:
			default:
				close(gates[c])
			}
		}
	}()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><html><head><meta charset="utf-8"><title>t</title><link rel="icon" href="data:,"></head><body><main>
<div id="slot"><micro-frontend id="hostile" timeout="10s"><span>fallback</span></micro-frontend></div>
<div id="aslot"><micro-frontend id="hostileasync" timeout="10s" async><span id="aph">aph</span></micro-frontend></div>
<div id="bslot"><micro-frontend id="benign" timeout="30s" async><span id="bph">bph</span></micro-frontend></div>
<footer id="last">last</footer>
</main></body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"hostile": %q, "hostileasync": %q, "benign": %q}`, frag.URL+"/sync", frag.URL+"/async", frag.URL+"/benign"))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CSP": settings.DemoCSP, "COMPOSER_CACHE_BYTES": "0"})
	for _, c := range []string{"clobber1", "clobber2", "clobber3", "clobber4", "clobber5", "clobber6", "clobber7"} {
		b := newBrowser(t, 800, 600) // one per page: no poll lands in the page before
		b.open(inst.base + "/?case=" + c)
		// Both hostile fragments are in the page (the async one moved, or
		// at least in its template) before the benign one is released.
		// querySelector, not getElementById: the page may be clobbered.
		b.do(b.until(`!!document.querySelector("#slot #mark-sync") && (!!document.querySelector("#mark-async") || [...document.querySelectorAll("template")].some(t => !!t.content.querySelector("#mark-async")))`))
		close(gate(c))
		b.do(b.until(`document.readyState === "complete"`))
		got := eval[string](b, `(() => {
			const q = s => document.querySelector(s);
			const r = [];
			const benign = q("#benign-content");
			if (!benign) r.push("no benign content");
			else if (!benign.parentElement || benign.parentElement.id !== "bslot") r.push("benign content in " + (benign.parentElement && benign.parentElement.outerHTML.slice(0, 80)));
			if (q("#bslot #evilrep") || q("#bslot").textContent.trim() !== "benign") r.push("benign slot holds " + JSON.stringify(q("#bslot").innerHTML));
			if (q("#bph")) r.push("the benign placeholder is still there");
			if (q("#aph")) r.push("the hostile async placeholder is still there");
			const m = q("#mark-async");
			if (!m || !m.parentElement || m.parentElement.id !== "aslot") r.push("the hostile async fragment is not in its own slot");
			if (document.querySelectorAll("main > template, body > template, #bslot template, #bslot mfe-placeholder").length) r.push("a composer template or placeholder is left");
			return r.join("; ");
		})()`)
		if got != "" {
			t.Errorf("%s (%s): %s", c, cases[c], got)
		}
		if p := b.seen(); len(p) > 0 {
			t.Errorf("%s: problems under the strict CSP:\n%v", c, p)
		}
	}
}
