package htmlguard

import (
	"bytes"

	"golang.org/x/net/html"

	"github.com/ssr-mfe/composer/composer/inert"
)

// Scripts says what a guard does with its piece's scripts (package
// inert): every script that runs (classic, module, importmap,
// speculationrules) is written inert, in HTML and SVG alike; an HTML
// script that the piece's own policy vouches for (a nonce, or a hash of
// its text; a src script by its nonce only), or every HTML script when
// Trust is set, is followed by the activator, which makes it live at that
// point. Data blocks (application/json, ...) pass as they are; a type an
// engine may run once trimmed is not one (inert.Kind). A script
// the guard had to cut (the piece ended in it, or Go's tokenizer and the
// standard disagree where it ends) stays inert.
type Scripts struct {
	Policy inert.Policy
	Trust  bool
}

// maxScriptText bounds the text kept to hash one script: a longer one
// is not vouched for by hash.
const maxScriptText = 1 << 20

// scriptState is the HTML script being passed, made inert.
type scriptState struct {
	on    bool   // in a script that may be activated at its end
	src   bool   // it has a src: only its nonce can vouch for it
	nonce string // its nonce attribute
	keep  bool   // its text is kept, to hash
	text  []byte // its text so far, and its end tag's start
	end   bool   // its end tag has attributes: activate once the tag is out
}

// scriptStart rewrites a script start tag t that has passed as an inert
// one, and readies the activation of an HTML script; changed is false
// for a data block, which passes as it is.
func (g *Guard) scriptStart(t []byte) (out []byte, changed bool) {
	htmlScript := g.st == sRaw && g.rawKind == pScript
	type span struct {
		name       string
		start, end int // the attribute as written, in t
		value      string
	}
	var attrs []span
	first := map[string]int{}
	i := 1
	for i < len(t) && !isSpace(t[i]) && t[i] != '/' && t[i] != '>' {
		i++
	}
	for {
		start, end, rawName, val, ok := nextAttr(t, i)
		if !ok {
			break
		}
		i = end
		name := string(bytes.ToLower(rawName))
		if len(val) > 0 && (val[0] == '"' || val[0] == '\'') {
			val = val[1:]
			if n := len(val); n > 0 && (val[n-1] == '"' || val[n-1] == '\'') {
				val = val[:n-1]
			}
		}
		if _, seen := first[name]; !seen {
			first[name] = len(attrs)
		}
		attrs = append(attrs, span{name: name, start: start, end: i, value: html.UnescapeString(string(val))})
	}
	get := func(name string) (string, bool) {
		if k, ok := first[name]; ok {
			return attrs[k].value, true
		}
		return "", false
	}
	typ, hasType := get("type")
	lang, hasLang := get("language")
	kind, runs := inert.Kind(typ, hasType, lang, hasLang)
	if !runs {
		return t, false
	}
	out = append(out, `<script type="`+inert.Type+`"`...)
	if kind != "" {
		out = append(out, ` `+inert.TypeAttr+`="`+kind+`"`...)
	}
	for _, a := range attrs {
		switch a.name {
		case "type", "language", "nonce", inert.TypeAttr:
			continue
		}
		out = append(append(out, ' '), t[a.start:a.end]...)
	}
	out = append(out, '>')
	if htmlScript {
		_, src := get("src")
		nonce, _ := get("nonce")
		sc := g.Scripts
		g.scr = scriptState{on: true, src: src, nonce: nonce, text: g.scr.text[:0]}
		g.scr.keep = !sc.Trust && !src && sc.Policy.Hashes()
	}
	return out, true
}

// scriptText keeps p, passed in a script, to hash it at its end.
func (g *Guard) scriptText(p []byte) {
	if g.scr.keep {
		if len(g.scr.text)+len(p) > maxScriptText+len("</script>") {
			g.scr.keep, g.scr.text = false, g.scr.text[:0]
			return
		}
		g.scr.text = append(g.scr.text, p...)
	}
}

// scriptEnd is called once the script's end tag is out (tail is how many
// of the kept bytes are the end tag): the activator follows a script that
// is vouched for.
func (g *Guard) scriptEnd(tail int) {
	s := &g.scr
	if !s.on {
		return
	}
	s.on = false
	sc := g.Scripts
	ok := sc.Trust
	switch {
	case ok:
	case s.src:
		ok = sc.Policy.Nonce(s.nonce)
	case s.keep && len(s.text) >= tail:
		text := s.text[:len(s.text)-tail]
		ok = bytes.IndexByte(text, 0) < 0 && sc.Policy.Allows(s.nonce, text)
	default:
		ok = sc.Policy.Nonce(s.nonce)
	}
	s.text = s.text[:0]
	if ok {
		g.out([]byte(inert.Tag))
	}
}
