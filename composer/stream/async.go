package stream

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"strconv"
	"strings"

	"github.com/ssr-mfe/composer/composer/htmlguard"
	"github.com/ssr-mfe/composer/composer/inert"
)

// moverScript is the composer's only inline script, the same bytes after
// every async fragment: it moves the <template> just before it into the
// placeholder the template's id names, then removes both itself and the
// template. Being constant, it is allowed by its hash (ScriptHashes), so a
// page carries no nonce and a CDN may keep it for everyone.
//
// Fragments' markup is in the same document, and named elements shadow
// document's properties (<img name=currentScript>, <form
// name=getElementById>): the script reaches the DOM only through the
// prototypes' methods and getters, which markup cannot replace. And the ids
// it looks up carry a part drawn per page (pageWriter.asyncKey), which a
// fragment does not know when it is written, so that no element of a
// fragment can pass for another's placeholder.
const moverScript = `(function(d){var D=Document.prototype,E=Element.prototype,g=function(o,k){return Object.getOwnPropertyDescriptor(o,k).get},s=g(D,"currentScript").call(d);if(!s)return;var t=g(E,"previousElementSibling").call(s);E.remove.call(s);if(!t||g(E,"tagName").call(t)!=="TEMPLATE")return;var i=E.getAttribute.call(t,"id")||"";E.remove.call(t);if(!/^mfe-async-[0-9]+-[A-Za-z0-9_-]{11}-content$/.test(i))return;var p=D.getElementById.call(d,i.slice(0,-8));if(p&&g(E,"tagName").call(p)==="MFE-PLACEHOLDER")E.replaceWith.call(p,g(HTMLTemplateElement.prototype,"content").call(t))})(document)`

// ScriptHashes lists the CSP sources that allow the composer's inline
// scripts ('sha256-...', space-separated): what {hashes} in COMPOSER_CSP
// becomes: the async mover's, the activator's (package inert: every
// script that runs on a page goes through it), and the debug view's
// overlay script's (overlayScript, on debug pages only).
var ScriptHashes = func() string {
	hashes := []string{inert.Hash}
	for _, script := range []string{moverScript, overlayScript} {
		sum := sha256.Sum256([]byte(script))
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join(hashes, " ")
}()

// newAsyncKey draws the part of a page's placeholder ids that fragments
// cannot guess: 8 random bytes, base64url (11 characters).
func newAsyncKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// asyncID is the id of async slot i's placeholder; its template's is the
// same with "-content".
func (pw *pageWriter) asyncID(i int) string {
	return "mfe-async-" + strconv.Itoa(i) + "-" + pw.asyncKey
}

// writePlaceholder writes an async slot's children in a wrapper the mover
// script can find.
func (pw *pageWriter) writePlaceholder(i int, s *slot) {
	pw.write([]byte(`<mfe-placeholder id="` + pw.asyncID(i) + `" data-fragment="` + html.EscapeString(s.frag.ID) + `">`))
	pw.write(s.frag.Fallback)
	pw.write([]byte(`</mfe-placeholder>`))
}

// writeAsync writes a finished async fragment and the call that moves it
// into place. A failed one replaces its placeholder with nothing.
func (pw *pageWriter) writeAsync(i int, s *slot) {
	id := pw.asyncID(i)
	pw.write([]byte(`<template id="` + id + `-content">`))
	// The debug view's comments move into place with the content.
	pw.debugBegin(s)
	err := s.headFailure()
	if err == nil {
		err = s.bodyErr
	}
	if err != nil {
		pw.logFailure(s, err)
	} else {
		pw.writeLinks(s.header)
		g := htmlguard.Guard{Reserved: pw.page.Template.IDs, Scripts: s.scripts()}
		g.Write(s.body, pw.write)
		g.Close(pw.write)
		pw.writeLinkScripts(s.header)
	}
	pw.debugEnd(s)
	pw.write([]byte(`</template><script>` + moverScript + `</script>`))
}
