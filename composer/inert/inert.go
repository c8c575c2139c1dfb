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
//     the order of the scripts inserted then): the order defer gives,
//     but after DOMContentLoaded has fired (an inserted script cannot
//     hold it back, and a parser-inserted one would need a nonce);
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
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"
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
// it may run at all, and kind is the type an inert copy keeps in
// TypeAttr: "" for a classic script, "module", "importmap" or
// "speculationrules". Any other type is a data block (application/json,
// ld+json, a template's text/x-template): it never runs and is left as it
// is.
//
// The answer errs toward "runs", for every engine: browsers do not all
// trim the same characters from a type (Chromium trims a vertical tab and
// the Unicode spaces, which the standard does not), so Kind trims from
// both ends every character that is not printable ASCII and drops the
// invisible ones (controls, format characters, spaces) inside; it reads
// the type's essence (what is before a ";", as an engine that reads
// parameters would), ASCII and Unicode case alike; the JavaScript types
// include every version and x- variant of javascript, ecmascript,
// jscript and livescript (Chromium's legacy languages go to
// javascript1.7); a type or language of padding only is JavaScript.
func Kind(typ string, hasType bool, lang string, hasLang bool) (kind string, runs bool) {
	var t string
	switch {
	case hasType:
		t = essence(typ)
	case hasLang:
		t = essence(lang)
		if t != "" {
			t = "text/" + t
		}
	}
	switch {
	case t == "" || jsType(t):
		return "", true
	case t == "module", t == "importmap", t == "speculationrules":
		return t, true
	case t == "webbundle": // an older Chromium's: it fetched resources for the page
		return t, true
	}
	return "", false
}

// essence is a type or language as Kind compares it: see Kind.
func essence(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimFunc(v, func(r rune) bool { return r <= ' ' || r >= 0x7f })
	v = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp) || r == utf8.RuneError {
			return -1
		}
		return r
	}, v)
	return strings.ToLower(v)
}

// jsType reports whether t (an essence) is a JavaScript MIME type, or
// one an engine may take for one: [text/|application/][x-]NAME[VERSION]
// with NAME javascript, ecmascript, jscript or livescript and VERSION
// digits and dots.
func jsType(t string) bool {
	if s, ok := strings.CutPrefix(t, "text/"); ok {
		t = s
	} else if s, ok := strings.CutPrefix(t, "application/"); ok {
		t = s
	} else {
		return false
	}
	t = strings.TrimPrefix(t, "x-")
	for _, name := range [...]string{"javascript", "ecmascript", "jscript", "livescript"} {
		if v, ok := strings.CutPrefix(t, name); ok {
			return strings.Trim(v, "0123456789.") == ""
		}
	}
	return false
}

// Policy is what a fragment's own Content-Security-Policy headers vouch
// for: the nonces and hashes of the script directive of each policy
// (script-src-elem, else script-src, else default-src). Only nonces and
// hashes vouch: 'unsafe-inline', 'self', host and scheme sources vouch for
// nothing. A script is vouched for when at least one policy restricts
// scripts and every one that does allows it, as a browser enforcing them
// all would. The zero Policy vouches for nothing.
type Policy struct {
	policies []policy
}

// IsZero reports whether p is the zero Policy: no policy restricts
// scripts.
func (p Policy) IsZero() bool { return len(p.policies) == 0 }

type policy struct {
	nonces map[string]bool
	hashes map[string]bool // "sha256-<base64>", ...
	algs   uint8           // which algorithms hashes uses (1: sha256, 2: sha384, 4: sha512)
}

// scriptDirectives are the directives that govern script elements, the
// first present winning.
var scriptDirectives = [...]string{"script-src-elem", "script-src", "default-src"}

// ScriptDirective returns the directive of one policy (a header value
// between commas) that governs script elements, script-src-elem, else
// script-src, else default-src, with its value; ok is false when the
// policy does not restrict scripts. Of two directives of a name, the
// first counts, as in a browser.
func ScriptDirective(policy string) (name, value string, ok bool) {
	var values [len(scriptDirectives)]string
	var seen [len(scriptDirectives)]bool
	for d := range strings.SplitSeq(policy, ";") {
		n, v, _ := strings.Cut(strings.TrimSpace(d), " ")
		for i, want := range scriptDirectives {
			if !seen[i] && strings.EqualFold(n, want) {
				seen[i], values[i] = true, v
			}
		}
	}
	for i, n := range scriptDirectives {
		if seen[i] {
			return n, values[i], true
		}
	}
	return "", "", false
}

// ParsePolicy reads the values of a fragment's Content-Security-Policy
// headers (each may hold several policies, separated by commas).
func ParsePolicy(values []string) Policy {
	var p Policy
	for _, v := range values {
		for one := range strings.SplitSeq(v, ",") {
			_, value, ok := ScriptDirective(one)
			if !ok {
				continue // it does not restrict scripts
			}
			pol := policy{nonces: map[string]bool{}, hashes: map[string]bool{}}
			for src := range strings.FieldsSeq(value) {
				if len(src) < 3 || src[0] != '\'' || src[len(src)-1] != '\'' {
					continue
				}
				src = src[1 : len(src)-1]
				kind, val, _ := strings.Cut(src, "-")
				switch strings.ToLower(kind) {
				case "nonce":
					pol.nonces[val] = true
				case "sha256":
					pol.hashes["sha256-"+val], pol.algs = true, pol.algs|1
				case "sha384":
					pol.hashes["sha384-"+val], pol.algs = true, pol.algs|2
				case "sha512":
					pol.hashes["sha512-"+val], pol.algs = true, pol.algs|4
				}
			}
			p.policies = append(p.policies, pol)
		}
	}
	return p
}

// Hashes reports whether some policy lists hashes: only then is a
// script's text worth keeping to hash.
func (p Policy) Hashes() bool {
	for _, pol := range p.policies {
		if pol.algs != 0 {
			return true
		}
	}
	return false
}

// Nonce reports whether the policies vouch for a script whose nonce
// attribute is nonce.
func (p Policy) Nonce(nonce string) bool {
	if nonce == "" || len(p.policies) == 0 {
		return false
	}
	for _, pol := range p.policies {
		if !pol.nonces[nonce] {
			return false
		}
	}
	return true
}

// Allows reports whether the policies vouch for an inline script, by its
// nonce attribute or by the hash of its text (as the browser reads it:
// CR LF and CR are LF).
func (p Policy) Allows(nonce string, text []byte) bool {
	if len(p.policies) == 0 {
		return false
	}
	var sums map[string]bool
	for _, pol := range p.policies {
		if nonce != "" && pol.nonces[nonce] {
			continue
		}
		if pol.algs == 0 {
			return false
		}
		if sums == nil {
			sums = digests(text, pol.algs|p.algs())
		}
		ok := false
		for h := range sums {
			if pol.hashes[h] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (p Policy) algs() uint8 {
	var a uint8
	for _, pol := range p.policies {
		a |= pol.algs
	}
	return a
}

// digests are the CSP hash sources of text for the algorithms algs.
func digests(text []byte, algs uint8) map[string]bool {
	if bytes.IndexByte(text, '\r') >= 0 {
		text = bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))
		text = bytes.ReplaceAll(text, []byte("\r"), []byte("\n"))
	}
	out := map[string]bool{}
	if algs&1 != 0 {
		s := sha256.Sum256(text)
		out["sha256-"+base64.StdEncoding.EncodeToString(s[:])] = true
	}
	if algs&2 != 0 {
		s := sha512.Sum384(text)
		out["sha384-"+base64.StdEncoding.EncodeToString(s[:])] = true
	}
	if algs&4 != 0 {
		s := sha512.Sum512(text)
		out["sha512-"+base64.StdEncoding.EncodeToString(s[:])] = true
	}
	return out
}
