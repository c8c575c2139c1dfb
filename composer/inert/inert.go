// Package inert is how scripts reach a page under the composer's strict
// policy (script-src 'strict-dynamic' with the composer's hashes): every
// script the composer writes or passes is inert (its type is Type, which
// no browser runs), and the ones that may run are each followed by
// Activator, a constant script allowed by its hash, which re-creates the
// inert script just before it as a live one at that point.
//
//	<script type="mfe/inert" data-mfe-type="module" src="/app.js"></script><script>{Activator}</script>
//
// Under 'strict-dynamic' a script inserted by an allowed script runs, so
// the page needs no nonce (a nonce would be shared by everyone a CDN
// hands the page to) and no hash of a fragment's script worked out in
// advance. A script without an activator after it (one no fragment
// vouched for: injected from a visitor's input) stays inert, in the
// page as in an async slot's template, which the mover then inserts as it
// is.
//
// The activator keeps what it can of the script's inline behaviour:
//
//   - a classic inline script runs at once, at its place, and sees
//     document.currentScript (itself, re-created);
//   - an inline module (type=module without async), a classic src script
//     with defer, and a module src script without async wait for
//     DOMContentLoaded, then run in document order (async=false keeps
//     the order of the scripts inserted then): the order defer gives;
//   - a classic src script without async or defer is inserted at once
//     with async=false: it runs in order with the other such scripts, but
//     no longer holds the parser (an inline script after it may run
//     first);
//   - async scripts run as they load; importmap, speculationrules and
//     inline module scripts keep their type.
//
// Inside a shadow root document.currentScript is null: there the
// activator cannot find its place and the script stays inert (a podlet
// that renders into a shadow root loads its scripts through its Link
// header, which the composer writes outside it). Markup cannot clobber
// the activator: it reaches the DOM through the prototypes' own methods
// and getters, not through properties that named elements can shadow.
package inert

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Type is the type of an inert script: no browser runs it.
const Type = "mfe/inert"

// TypeAttr holds an inert script's own type ("" for a classic script).
const TypeAttr = "data-mfe-type"

// Activator is the script that follows a script that may run. It has no
// "<" and no character reference, so that its text is the same bytes in
// HTML and in foreign content (its hash holds in both).
const Activator = `(function(d){var D=Document.prototype,E=Element.prototype,P=function(o,k){return Object.getOwnPropertyDescriptor(o,k)},g=function(o,k){return P(o,k).get},s=g(D,"currentScript").call(d);if(!s)return;var p=g(E,"previousElementSibling").call(s);E.remove.call(s);if(!p||g(E,"localName").call(p)!=="script"||g(E,"namespaceURI").call(p)!=="http://www.w3.org/1999/xhtml"||E.getAttribute.call(p,"type")!=="mfe/inert")return;var n=D.createElement.call(d,"script"),a=g(E,"attributes").call(p),A=g(Attr.prototype,"name"),V=g(Attr.prototype,"value"),L=g(NamedNodeMap.prototype,"length").call(a),t=E.getAttribute.call(p,"data-mfe-type")||"",S=HTMLScriptElement.prototype,h=function(k){return E.hasAttribute.call(p,k)};for(var i=0;L>i;i++){var x=NamedNodeMap.prototype.item.call(a,i),k=A.call(x);if("type"!==k&&"data-mfe-type"!==k&&"nonce"!==k)E.setAttribute.call(n,k,V.call(x))}if(t)E.setAttribute.call(n,"type",t);P(S,"text").set.call(n,P(S,"text").get.call(p));var m=t.toLowerCase()==="module",later=!h("async")&&(m||h("src")&&!!h("defer"));if(h("src")||m)P(S,"async").set.call(n,!!h("async"));var go=function(){E.replaceWith.call(p,n)};if(later&&"loading"===g(D,"readyState").call(d))EventTarget.prototype.addEventListener.call(d,"DOMContentLoaded",go);else go()})(document)`

// Hash is the CSP source that allows Activator.
var Hash = func() string {
	sum := sha256.Sum256([]byte(Activator))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Tag is the activator as it follows a script that may run.
const Tag = "<script>" + Activator + "</script>"

// Kind is what a browser does with a <script> whose first type and
// language attributes are these (present or not): runs reports whether
// it runs at all, and kind is the type an inert copy keeps in TypeAttr:
// "" for a classic script, "module", "importmap" or "speculationrules".
// Any other type is a data block (application/json, ld+json, a
// template's text/x-template, a type with parameters): it never runs and
// is left as it is.
func Kind(typ string, hasType bool, lang string, hasLang bool) (kind string, runs bool) {
	var t string
	switch {
	case hasType && typ != "":
		t = typ
	case !hasType && hasLang && lang != "":
		t = "text/" + lang
	default:
		return "", true
	}
	t = strings.ToLower(strings.Trim(t, " \t\n\f\r"))
	switch t {
	case "application/ecmascript", "application/javascript", "application/x-ecmascript", "application/x-javascript",
		"text/ecmascript", "text/javascript", "text/javascript1.0", "text/javascript1.1", "text/javascript1.2",
		"text/javascript1.3", "text/javascript1.4", "text/javascript1.5", "text/jscript", "text/livescript",
		"text/x-ecmascript", "text/x-javascript":
		return "", true
	case "module", "importmap", "speculationrules":
		return t, true
	}
	return "", false
}
