// Package htmlguard keeps a piece of untrusted HTML from changing the
// document around it, while the HTML streams through chunk by chunk.
//
// A Guard is fed the bytes of one piece of HTML (in the composer, one
// fragment's body) with Write and passes on a safe form of them; Close
// passes on what ends everything the piece left open. Whatever the input
// and wherever it stops, the output followed by any markup parses, in an
// HTML5 parser, as the output's own nodes followed by that markup's nodes,
// as if the output were an empty string: nothing of the page after it is
// swallowed into a comment, a script or an attribute, re-nested, moved or
// changed. The guard knows nothing of where its output goes but the ids of
// the page around it (Guard.Reserved), which the piece's elements may
// neither take nor name; the rules are in docs/html-guard.md.
//
// It reads its input as the HTML tokenizer does, and follows the parser's
// stack of open elements (with the table modes, select, template and
// foreign content), so that it can tell what the parser will do. Where the
// parser would close elements implicitly, the guard writes their end tags
// itself; what it cannot follow exactly (a <table> start tag inside a table,
// <form> in a table, document tags, tags longer than MaxTag, ...) it drops.
// Well-formed markup passes unchanged.
package htmlguard

import (
	"bytes"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// MaxTag is the longest tag the guard holds back (a tag is passed whole or
// dropped whole, so it must be held until its '>'): a longer tag is dropped.
const MaxTag = 64 << 10

// MaxDepth is how many elements a fragment may leave open at once: a start
// tag beyond it is dropped. Half of the 512 open elements past which Go's
// parser refuses a document (and browsers flatten it), so that a fragment
// at its deepest plus any reasonable page around it stay well under that.
const MaxDepth = 256

// A Guard guards one piece of HTML. The zero value is ready to use; a
// Guard is reusable after Close. It is not safe for concurrent use.
type Guard struct {
	// Reserved are the ids of the page around the piece (case matters, as
	// in a document in standards mode): an element of the piece may not
	// take one, nor refer to one by id (label for, popovertarget,
	// commandfor, aria-labelledby, ...). The guard only reads it; nil
	// costs nothing.
	Reserved map[string]bool
	// Scripts, if set, writes the piece's scripts inert, and activates
	// those it vouches for (see Scripts); nil passes them as they are.
	Scripts *Scripts
	// Passed, if set, remembers whole pieces passed unchanged (WriteWhole).
	// Scope stands for Reserved in what it remembers: two Guards with the
	// same Passed and Scope must have the same Reserved ids (the composer
	// gives each compiled template a scope of its own).
	Passed *Passed
	Scope  uint64

	st    state
	ts    tagState // in a tag
	sub   uint8    // comment, CDATA, raw text or script sub-state
	match int      // in raw text: how much of the end tag's name was seen
	dbl   int      // in script data: how much of "script" was seen (-1: not it)

	held        []byte // a tag (or "<!...") being read, from its '<'
	over        bool   // the held tag grew past MaxTag: it is being dropped
	endTag      bool   // the held tag is an end tag
	rawEnd      bool   // ... the end tag of the raw text element (only its tail is held)
	selfClosing bool

	raw     string // in raw text: the element's name
	rawKind props  // pRCDATA, pRawText or pScript
	// goData: in escaped script data, a '<' was followed by neither '/'
	// nor a letter. The standard stays in the escaped state; Go's
	// tokenizer (golang.org/x/net/html) goes back to plain script data.
	goData bool

	stack    []elem
	utf8Tail []byte

	scratch []byte // an end tag the guard writes

	emit func([]byte) // during Write and Close
	run  []byte       // passed input not yet given to emit (see scanData)

	scr scriptState // the HTML script being passed, with Scripts

	// reference turns the fast path off (tests: every tag takes the full
	// path, which the fast path must match byte for byte).
	reference bool
}

// out passes p on, after what is pending in g.run.
func (g *Guard) out(p []byte) {
	if len(g.run) > 0 {
		g.emit(g.run)
		g.run = nil
	}
	if len(p) > 0 {
		g.emit(p)
	}
}

type state uint8

const (
	sData       state = iota
	sTagOpen          // "<" held
	sEndTagOpen       // "</" held
	sTag              // in a start or end tag (ts), held
	sMarkup           // "<!" held, deciding between comment, doctype, CDATA and bogus comment
	sComment          // in a comment (sub), passed as it comes
	sBogus            // in a bogus comment ("<?...", "<!x...", "</ ..."): ends at '>'
	sDoctype          // in a doctype: dropped up to its '>'
	sCDATA            // in a CDATA section (foreign content only); sub counts ']'
	sRaw              // in RCDATA, raw text or script data (sub)
)

// Tag states, after the tokenizer's.
type tagState uint8

const (
	tsName tagState = iota
	tsBeforeAttrName
	tsAttrName
	tsAfterAttrName
	tsBeforeValue
	tsValueDQ
	tsValueSQ
	tsValueUnquoted
	tsAfterValueQuoted
	tsSelfClosing
)

// Comment sub-states.
const (
	cStart uint8 = iota
	cStartDash
	cBody
	cEndDash
	cEnd
	cEndBang
)

// Raw text and script data sub-states. The first four serve RCDATA and
// raw text too.
const (
	rData     uint8 = iota
	rLt             // "<"
	rEndName        // "</" and match bytes of the name
	rEndFull        // "</name": a delimiter makes it the end tag
	rEscStart       // "<!"
	rEscStartDash
	rEsc // script data escaped
	rEscDash
	rEscDashDash
	rEscLt
	rEscEndName
	rEscEndFull
	rDblStart // "<" and letters in escaped script data: dbl counts "script"
	rDbl      // script data double escaped
	rDblDash
	rDblDashDash
	rDblLt
	rDblEnd
)

var (
	ltEntity  = []byte("&lt;")
	scriptEnd = []byte("--></script>")
)

var spaces = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\f': true}

func isSpace(c byte) bool { return spaces[c] }

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Write passes the safe form of chunk to emit, as much of it as can be
// passed now: text, comments and raw text at once, a tag when its '>' has
// come (what is held is bounded by MaxTag). Chunks may split the input
// anywhere, even inside a UTF-8 sequence: the output does not depend on
// where. The slices given to emit are valid only during the call.
func (g *Guard) Write(chunk []byte, emit func([]byte)) {
	if len(g.utf8Tail) > 0 {
		joined := append(g.utf8Tail, chunk...)
		g.utf8Tail = nil
		chunk = joined
	}
	// Hold back an incomplete UTF-8 sequence at the end for the next chunk.
	if n := incompleteTail(chunk); n > 0 {
		g.utf8Tail = append([]byte(nil), chunk[len(chunk)-n:]...)
		chunk = chunk[:len(chunk)-n]
	}
	if !utf8.Valid(chunk) {
		chunk = validUTF8(chunk)
	}
	g.emit = emit
	for len(chunk) > 0 {
		chunk = g.step(chunk)
	}
	g.out(nil)
	g.emit = nil
}

// Close passes on what ends everything the input left open (a tag cut off
// is dropped; a comment, a raw text element and open elements are closed)
// and makes the Guard ready for new input.
func (g *Guard) Close(emit func([]byte)) {
	g.emit = emit
	if len(g.utf8Tail) > 0 {
		switch g.st {
		case sData, sComment, sBogus, sCDATA, sRaw:
			g.out([]byte("\uFFFD"))
		}
	}
	switch g.st {
	case sTag:
		if g.rawEnd {
			g.out([]byte(">"))
		}
	case sComment:
		g.out([]byte("-->"))
	case sBogus:
		g.out([]byte(">"))
	case sCDATA:
		g.out([]byte("]]>"))
	case sRaw:
		if g.rawKind == pScript && g.sub >= rEsc {
			g.out([]byte("-->"))
		}
		g.out([]byte("</" + g.raw + ">"))
	}
	g.closeTo(0)
	*g = Guard{Reserved: g.Reserved, Scripts: g.Scripts, Passed: g.Passed, Scope: g.Scope, reference: g.reference, stack: g.stack[:0], held: g.held[:0], scratch: g.scratch[:0], scr: scriptState{text: g.scr.text[:0]}}
}

// validUTF8 replaces each invalid byte with U+FFFD, as a browser's decoder
// does (bytes.ToValidUTF8 would fold a run into one, which depends on where
// chunks split).
func validUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// incompleteTail is the length of a UTF-8 sequence cut off at the end of b.
func incompleteTail(b []byte) int {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 { // a lead byte
			need := 2
			switch {
			case c >= 0xF0:
				need = 4
			case c >= 0xE0:
				need = 3
			}
			if need > i {
				return i
			}
			return 0
		}
	}
	return 0
}

// step consumes some of b in the current state and returns the rest.
func (g *Guard) step(b []byte) []byte {
	switch g.st {
	case sData:
		return g.scanData(b)
	case sTagOpen:
		switch c := b[0]; {
		case isAlpha(c):
			g.st, g.ts, g.endTag, g.over, g.selfClosing = sTag, tsName, false, false, false
			return b
		case c == '/':
			g.st, g.held = sEndTagOpen, append(g.held, c)
		case c == '!':
			g.st, g.held = sMarkup, append(g.held, c)
		case c == '?':
			g.out(g.held)
			g.st = sBogus
			return b
		default: // "<" and anything else is text
			// Written as "&lt;": if what follows it is dropped, a letter
			// after it must not make a tag of it.
			g.st = sData
			g.text(ltEntity)
			return b
		}
		return b[1:]
	case sEndTagOpen:
		switch c := b[0]; {
		case isAlpha(c):
			g.st, g.ts, g.endTag, g.over, g.selfClosing = sTag, tsName, true, false, false
			return b
		case c == '>': // "</>" is nothing
			g.st = sData
			return b[1:]
		default:
			g.out(g.held)
			g.st = sBogus
			return b
		}
	case sTag:
		return g.scanTag(b)
	case sMarkup:
		return g.scanMarkup(b)
	case sComment:
		return g.scanComment(b)
	case sBogus, sDoctype:
		i := bytes.IndexByte(b, '>')
		if g.st == sBogus {
			if i < 0 {
				g.out(b)
				return nil
			}
			g.out(b[:i+1])
		}
		if i < 0 {
			return nil
		}
		g.st = sData
		return b[i+1:]
	case sCDATA:
		for i, c := range b {
			switch {
			case c == ']':
				g.sub = min(g.sub+1, 2)
			case c == '>' && g.sub == 2:
				g.out(b[:i+1])
				g.st = sData
				return b[i+1:]
			default:
				g.sub = 0
			}
		}
		g.out(b)
		return nil
	case sRaw:
		return g.scanRaw(b)
	}
	panic("htmlguard: bad state")
}

// text passes text in the data state.
func (g *Guard) text(t []byte) {
	if len(t) == 0 {
		return
	}
	if g.topIs("colgroup") {
		// Text other than white space would close the column group.
		for i, c := range t {
			if !isSpace(c) {
				g.out(t[:i])
				g.closeTop()
				t = t[i:]
				break
			}
		}
	}
	g.out(t)
}

// hold adds part of a tag to g.held, or drops it if the tag is too long.
func (g *Guard) hold(part []byte) {
	if g.over {
		return
	}
	if len(g.held)+len(part) > MaxTag {
		g.over, g.held = true, g.held[:0]
		return
	}
	g.held = append(g.held, part...)
}

// scanTag reads a tag to its '>', as the tokenizer's tag states do.
func (g *Guard) scanTag(b []byte) []byte {
	n, ts, sc := tagEnd(b, g.ts)
	g.ts = ts
	if n == 0 {
		g.hold(b)
		return nil
	}
	g.selfClosing = sc
	g.hold(b[:n])
	g.st = sData
	g.tagDone()
	return b[n:]
}

// tagEnd reads b from tag state ts to the tag's '>'. It returns the length
// up to and with the '>' and whether the tag is self-closing; 0 and the
// state reached if the tag goes on after b.
func tagEnd(b []byte, ts tagState) (int, tagState, bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch ts {
		case tsName:
			switch {
			case isSpace(c):
				ts = tsBeforeAttrName
			case c == '/':
				ts = tsSelfClosing
			case c == '>':
				return i + 1, ts, false
			}
		case tsBeforeAttrName:
			switch {
			case isSpace(c):
			case c == '/':
				ts = tsSelfClosing
			case c == '>':
				return i + 1, ts, false
			default: // '=' here starts a name
				ts = tsAttrName
			}
		case tsAttrName:
			switch {
			case isSpace(c):
				ts = tsAfterAttrName
			case c == '/':
				ts = tsSelfClosing
			case c == '=':
				ts = tsBeforeValue
			case c == '>':
				return i + 1, ts, false
			}
		case tsAfterAttrName:
			switch {
			case isSpace(c):
			case c == '/':
				ts = tsSelfClosing
			case c == '=':
				ts = tsBeforeValue
			case c == '>':
				return i + 1, ts, false
			default:
				ts = tsAttrName
			}
		case tsBeforeValue:
			switch {
			case isSpace(c):
			case c == '"':
				ts = tsValueDQ
			case c == '\'':
				ts = tsValueSQ
			case c == '>':
				return i + 1, ts, false
			default:
				ts = tsValueUnquoted
			}
		case tsValueDQ, tsValueSQ:
			q := byte('"')
			if ts == tsValueSQ {
				q = '\''
			}
			j := bytes.IndexByte(b[i:], q)
			if j < 0 {
				return 0, ts, false
			}
			i += j
			ts = tsAfterValueQuoted
		case tsValueUnquoted:
			switch {
			case isSpace(c):
				ts = tsBeforeAttrName
			case c == '>':
				return i + 1, ts, false
			}
		case tsAfterValueQuoted:
			switch {
			case isSpace(c):
				ts = tsBeforeAttrName
			case c == '/':
				ts = tsSelfClosing
			case c == '>':
				return i + 1, ts, false
			default:
				ts = tsAttrName
			}
		case tsSelfClosing:
			if c == '>' {
				return i + 1, ts, true
			}
			ts = tsBeforeAttrName
			i-- // read c again
		}
	}
	return 0, ts, false
}

// scanData passes text and the tags that pass as one run as long as it
// can: most fragments are well-formed, and one write is cheaper than many.
// A tag complete in b is decided on where it is, without a copy; one that
// goes on in the next chunk takes the slow path (sTagOpen, sTag).
func (g *Guard) scanData(b []byte) []byte {
	g.out(nil)       // what an earlier step left in g.run
	run, pos := 0, 0 // b[run:pos] is passed but not yet given to emit
	for {
		if t := g.top(); t != nil && t.memo&mPlain == 0 && t.is("colgroup") { // text may close it: the slow path
			t := b[pos:]
			if k := bytes.IndexByte(t, '<'); k >= 0 {
				t = t[:k]
			}
			if len(t) > 0 {
				g.run = b[run:pos]
				g.text(t) // gives g.run to emit first
				run, pos = pos+len(t), pos+len(t)
				if pos == len(b) {
					return nil
				}
			}
		}
		i := pos
		if i >= len(b) || b[i] != '<' { // tags often follow each other
			i = bytes.IndexByte(b[pos:], '<')
			if i < 0 {
				g.run = b[run:]
				return nil
			}
			i += pos
		}
		if !g.reference {
			if end := g.fastRun(b, i); end != i {
				if end == len(b) {
					g.run = b[run:]
					return nil
				}
				i = end // the fast path took the tags before this one
			}
		}
		j := i + 1
		end := j < len(b) && b[j] == '/'
		if end {
			j++
		}
		if j >= len(b) || !isAlpha(b[j]) {
			g.run = b[run:i]
			g.st, g.held = sTagOpen, append(g.held[:0], '<')
			return b[i+1:]
		}
		n, _, sc := tagEnd(b[j:], tsName)
		if n == 0 {
			g.run = b[run:i]
			g.st, g.held = sTagOpen, append(g.held[:0], '<')
			return b[i+1:]
		}
		tag := b[i : j+n]
		g.run = b[run:i]
		var pass bool
		name, p := tagName(tag)
		if end {
			pass = g.endTagToken(name)
		} else {
			pass = g.startTagToken(name, p, tag, sc)
		}
		pos = j + n
		var rewritten []byte
		if pass && !end {
			if t, changed := g.attrs(tag, name); changed {
				rewritten = t
			}
			if g.Scripts != nil && name == "script" {
				t := tag
				if rewritten != nil {
					t = rewritten
				}
				if t, changed := g.scriptStart(t); changed {
					rewritten = t
				}
			}
		}
		switch {
		case !pass:
			g.out(nil)
			run = pos
		case rewritten != nil:
			g.out(rewritten)
			run = pos
		case len(g.run) == 0: // end tags were written before it
			run = i
		}
		if g.st != sData { // a raw text element began
			g.run = b[run:pos]
			return b[pos:]
		}
	}
}

// tagDone handles the complete tag in g.held.
func (g *Guard) tagDone() {
	tag := g.held
	if g.rawEnd {
		// The raw text element ends: "</name" is out, this is the rest.
		if g.over {
			g.out([]byte(">"))
		} else {
			g.out(tag)
		}
		g.rawEnd = false
		if g.scr.end {
			g.scr.end = false
			g.scriptEnd(len("</script"))
		}
		return
	}
	if g.over {
		return // too long: dropped
	}
	name, p := tagName(tag)
	if g.endTag {
		if g.endTagToken(name) {
			g.out(tag)
		}
		return
	}
	if g.startTagToken(name, p, tag, g.selfClosing) {
		t, _ := g.attrs(tag, name)
		if g.Scripts != nil && name == "script" {
			t, _ = g.scriptStart(t)
		}
		g.out(t)
	}
}

// attrs returns the start tag t (complete, "<name ...>") of the element
// elem, which has passed, without what in its attributes would act on the
// page beyond the fragment, and whether it changed: the attributes that
// tie a control to a form (aForm); on a template whose parent is the
// page's element, the shadowroot* attributes that would attach a
// declarative shadow root to that element; an id in g.Reserved, and
// g.Reserved's ids in the attributes that refer to elements by id. The
// attributes are read as the tokenizer reads them; the rest of the tag is
// written as it came.
func (g *Guard) attrs(t []byte, elem string) ([]byte, bool) {
	// The template was pushed: its parent is the page's element when
	// nothing else the fragment opened is open.
	shadow := elem == "template" && len(g.stack) == 1 && g.stack[0].is("template")
	ids := len(g.Reserved) > 0
	if !ids && !shadow && !containsFoldASCII(t, "form") {
		return t, false
	}
	i := 1
	for i < len(t) && !isSpace(t[i]) && t[i] != '/' && t[i] != '>' {
		i++
	}
	var out []byte
	changed := false
	last := 0 // t[last:] is not yet copied to out
	prev := i // where the previous attribute (or the name) ends
	for {
		start, end, name, val, ok := nextAttr(t, i)
		if !ok {
			break
		}
		i = end
		drop, keep := g.judge(attrKind(name), elem, shadow, val)
		switch {
		case drop:
			out = append(out, t[last:prev]...)
			if i < len(t) && !isSpace(t[i]) && t[i] != '>' && !isSpace(out[len(out)-1]) {
				// It goes with the separator before it, so one is written
				// before what follows it with none: a name after a quoted
				// value starts a new attribute (<s form="x"cript> is s with
				// cript, not <script>), and a '/' kept apart from the
				// attribute before, whose unquoted value it would end
				// (<a b=c d=e/> is not <a b=c/>).
				out = append(out, ' ')
			}
			last, changed = i, true
		case keep != nil:
			out = append(out, t[last:start]...)
			out = append(append(append(out, name...), `="`...), keep...)
			out = append(out, '"')
			last, changed = i, true
		}
		prev = i
	}
	if !changed {
		return t, false
	}
	return append(out, t[last:]...), true
}

// judge decides on one attribute of the start tag of elem, of kind k
// and value val as written (see attrs): drop it, or keep only keep of its
// value (the tokens left of a reference, when some went); shadow is
// whether shadowroot* attributes go.
func (g *Guard) judge(k uint8, elem string, shadow bool, val []byte) (drop bool, keep []byte) {
	switch ids := len(g.Reserved) > 0; {
	case k == aForm:
		drop = true
	case k == aShadow:
		drop = shadow
	case !ids || k == aOther:
	case k == aID:
		drop = g.Reserved[string(attrValue(val))]
	case k == aHashRef:
		v := attrValue(val)
		h := bytes.IndexByte(v, '#')
		drop = h >= 0 && g.Reserved[string(v[h+1:])]
	case k == aHref && elem == "a":
		drop = g.svgLinkToPage(val)
	case k == aHref:
		drop = svgAnimation(elem) && !g.ownTarget(attrValue(val))
	case k == aName:
		drop = elem == "map" && g.Reserved[string(mapName(attrValue(val)))]
	default: // aRef
		drop, keep = g.refs(attrValue(val))
	}
	return drop, keep
}

// nextAttr reads the attribute of t, a complete start tag, that begins at
// i or after it (past spaces and slashes), as the tokenizer reads it: its
// name as written (a first "=" is part of it), its value as written with
// its quotes (nil when it has none), and where it starts and ends in t.
// ok is false when no attribute is left.
func nextAttr(t []byte, i int) (start, end int, name, val []byte, ok bool) {
	for i < len(t) && (isSpace(t[i]) || t[i] == '/') {
		i++
	}
	if i >= len(t) || t[i] == '>' {
		return i, i, nil, nil, false
	}
	start = i
	i++ // a first "=" is part of the name
	for i < len(t) && !nameEnd[t[i]] {
		i++
	}
	name = t[start:i]
	j := i
	for j < len(t) && isSpace(t[j]) {
		j++
	}
	if j < len(t) && t[j] == '=' {
		j++
		for j < len(t) && isSpace(t[j]) {
			j++
		}
		v := j
		if j < len(t) && (t[j] == '"' || t[j] == '\'') {
			if k := bytes.IndexByte(t[j+1:], t[j]); k >= 0 {
				j += k + 2
			} else {
				j = len(t)
			}
		} else {
			for j < len(t) && !valueEnd[t[j]] {
				j++
			}
		}
		val = t[v:j]
		i = j
	}
	return start, i, name, val, true
}

// Where an attribute's name ends, and an unquoted value.
var nameEnd, valueEnd = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\f': true, '/': true, '>': true, '=': true},
	[256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\f': true, '>': true}

// Kinds of attributes, for attrs.
const (
	aOther   uint8 = iota
	aForm          // ties a control to a form by id, or changes how its form is submitted
	aShadow        // shadowroot*: shadowrootmode, shadowrootdelegatesfocus, ...
	aID            // id
	aRef           // refers to elements by id: one, or a list of them
	aHashRef       // refers to a map by "#" and its name or id: usemap
	aHref          // href, xlink:href: on an SVG animation element, its target
	aName          // name: on a map, what usemap finds it by
)

// ownTarget reports whether v, the href of an SVG animation element, may
// stay: only when it is "#" and an id that is not reserved, as written.
// The browser reads it as a URL: it trims the spaces and control
// characters around it, removes tabs and newlines inside it, resolves it
// against the page's address (so "page#id", "/page#id" and the page's
// full address name the page's element) and percent-decodes its fragment.
// The guard cannot know the page's address, so a value with anything
// before its '#', or a space, control character or '%' after it, goes.
func (g *Guard) ownTarget(v []byte) bool {
	for len(v) > 0 && v[0] <= ' ' {
		v = v[1:]
	}
	for len(v) > 0 && v[len(v)-1] <= ' ' {
		v = v[:len(v)-1]
	}
	if len(v) == 0 || v[0] != '#' {
		return false
	}
	for _, c := range v[1:] {
		if c <= ' ' || c == '%' {
			return false
		}
	}
	return !g.Reserved[string(v[1:])]
}

// svgLinkToPage reports whether raw, the href of an <a> just opened (or,
// self-closing, just written), would name one of the page's elements in a
// way that acts when the link is followed: an SVG link whose href is "#"
// and an id (white space around it trimmed, nothing decoded) begins the
// animation element of that id instead of scrolling to it. An HTML link
// only scrolls: it is not judged.
func (g *Guard) svgLinkToPage(raw []byte) bool {
	if t := g.top(); t == nil || t.ns != nsSVG {
		return false
	}
	v := bytes.TrimFunc(attrValue(raw), isSpaceRune)
	return len(v) > 0 && v[0] == '#' && g.Reserved[string(v[1:])]
}

// mapName is the name a <map name=v> is found by: v without one leading
// '#', as Chromium reads it (case kept, spaces too).
func mapName(v []byte) []byte {
	if len(v) > 0 && v[0] == '#' {
		return v[1:]
	}
	return v
}

// svgAnimation reports whether the element named name (lower case) is one
// of SVG's animation elements, which act on the element their href names:
// <set href="#logo" attributeName="href" to="..."> changes the page's
// SVG link, <discard> removes its target.
func svgAnimation(name string) bool {
	switch name {
	case "set", "animate", "animatemotion", "animatetransform", "animatecolor", "discard":
		return true
	}
	return false
}

// attrKind tells what the attribute name (as written) is to attrs.
func attrKind(name []byte) uint8 {
	switch name[0] | 0x20 { // the first letters of the names below
	case 'a', 'c', 'f', 'h', 'i', 'l', 'n', 'p', 'u', 'x':
	case 's':
		if hasPrefixFold(name, "shadowroot") {
			return aShadow
		}
		return aOther
	default:
		return aOther
	}
	var buf [24]byte // longer than any name below
	if len(name) > len(buf) || len(name) < 2 {
		return aOther
	}
	for i, c := range name {
		buf[i] = lower(c)
	}
	switch string(buf[:len(name)]) { // no allocation
	case "id":
		return aID
	case "form", "formaction", "formmethod", "formenctype", "formtarget", "formnovalidate":
		// On a fragment's element they would reach the page's own forms
		// (<input form=pageform>, <button form=... formaction=...>),
		// whatever their value: always dropped.
		return aForm
	// The attributes that refer to elements by id, in the HTML standard
	// and in Chromium: those that act (a label's for ticks the box,
	// popovertarget and commandfor open popovers and dialogs, list fills a
	// datalist, anchor and interestfor place and show), and those that
	// name and describe (headers, itemref, output's for, and ARIA's,
	// aria-labeledby being a spelling Chromium also reads).
	case "for", "list", "popovertarget", "commandfor", "interestfor", "interesttarget", "anchor", "headers", "itemref",
		"aria-activedescendant", "aria-actions", "aria-controls", "aria-describedby", "aria-details",
		"aria-errormessage", "aria-flowto", "aria-labelledby", "aria-labeledby", "aria-owns":
		return aRef
	case "usemap":
		return aHashRef
	case "href", "xlink:href":
		return aHref
	case "name":
		return aName
	}
	return aOther
}

// refs reads the value v of an attribute that refers to elements by id.
// It is dropped if it is a reserved id as a whole, or if every one of its
// white-space separated tokens is; if only some are, keep is the rest,
// escaped for a double-quoted attribute value. Every such attribute is
// read as a list: one that takes a single id is then judged more strictly
// than the browser reads it, never less.
func (g *Guard) refs(v []byte) (drop bool, keep []byte) {
	if g.Reserved[string(v)] {
		return true, nil
	}
	if !hasSpace(v) { // one token: v itself
		return false, nil
	}
	found, left := false, 0
	for f := range bytes.FieldsFuncSeq(v, isSpaceRune) {
		if g.Reserved[string(f)] {
			found = true
		} else {
			left++
		}
	}
	if !found {
		return false, nil
	}
	if left == 0 {
		return true, nil
	}
	keep = []byte{}
	for f := range bytes.FieldsFuncSeq(v, isSpaceRune) {
		if !g.Reserved[string(f)] {
			if len(keep) > 0 {
				keep = append(keep, ' ')
			}
			keep = append(keep, html.EscapeString(string(f))...)
		}
	}
	return false, keep
}

// hasSpace reports whether v holds white space (what bytes.ContainsAny(v,
// " \t\n\r\f") reports, without building its set each time).
func hasSpace(v []byte) bool {
	for _, c := range v {
		if spaces[c] {
			return true
		}
	}
	return false
}

// hasRefOrCR reports whether raw holds '&', '\r' or NUL.
func hasRefOrCR(raw []byte) bool {
	for _, c := range raw {
		if c == '&' || c == '\r' || c == 0 {
			return true
		}
	}
	return false
}

func isSpaceRune(r rune) bool { return r < 0x80 && spaces[r] }

// attrValue is the value of an attribute written as raw (with its quotes,
// or empty when it has none) as the tokenizer reads it: character
// references decoded, newlines normalised, NUL replaced. raw comes from a
// complete tag: a quoted value has its closing quote.
func attrValue(raw []byte) []byte {
	if hasRefOrCR(raw) { // rare: let Go's tokenizer read it
		z := html.NewTokenizer(bytes.NewReader(append(append([]byte("<a v="), raw...), '>')))
		z.Next()
		z.TagName()
		_, v, _ := z.TagAttr()
		return v
	}
	if len(raw) >= 2 && (raw[0] == '"' || raw[0] == '\'') {
		return raw[1 : len(raw)-1]
	}
	return raw
}

// hasPrefixFold reports whether b starts with s (lower case), comparing
// ASCII letters without case.
func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && containsFoldASCII(b[:len(s)], s)
}

// containsFoldASCII reports whether b holds s (lower case), comparing
// ASCII letters without case as the tokenizer does.
func containsFoldASCII(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		k := 0
		for k < len(s) && lower(b[i+k]) == s[k] {
			k++
		}
		if k == len(s) {
			return true
		}
	}
	return false
}

// tagName returns the lower-case name of the tag in t ("<div ...>" or
// "</div>").
func tagName(t []byte) (string, props) {
	t = t[1:]
	if t[0] == '/' {
		t = t[1:]
	}
	end := 0
	for end < len(t) && !isSpace(t[end]) && t[end] != '/' && t[end] != '>' {
		end++
	}
	var buf [16]byte
	if end <= len(buf) {
		for i, c := range t[:end] {
			buf[i] = lower(c)
		}
		if c := buf[0] - 'a'; c < 26 {
			for _, k := range known[c] {
				if len(k.name) == end && k.name == string(buf[:end]) { // no allocation
					return k.name, k.props
				}
			}
		}
	}
	return string(bytes.ToLower(t[:end])), 0
}

// known lists the element names the guard knows (and common others, so
// that their names are not allocated), by first letter: a few string
// comparisons cost less than hashing.
var known [26][]struct {
	name  string
	props props
}

// initKnown fills known, once elementProps is filled.
func initKnown() {
	add := func(n string) {
		for _, k := range known[n[0]-'a'] {
			if k.name == n {
				return
			}
		}
		known[n[0]-'a'] = append(known[n[0]-'a'], struct {
			name  string
			props props
		}{n, elementProps[n]})
	}
	// The most common first.
	for _, n := range []string{"div", "span", "p", "a", "li", "img", "b", "i", "br", "ul", "td", "tr", "input",
		"button", "section", "article", "strong", "em", "svg", "path", "option", "label", "form", "h1", "h2", "h3"} {
		add(n)
	}
	for n := range elementProps {
		add(n)
	}
	for _, n := range []string{"select", "optgroup", "math", "g", "picture", "time", "ruby", "rt", "rp", "mi", "mo",
		"mn", "ms", "mtext", "foreignobject", "desc", "annotation-xml", "var", "sub", "sup", "abbr", "cite", "q",
		"mark", "kbd", "samp", "circle", "rect", "use", "symbol", "defs", "line", "polygon", "polyline", "text",
		"tspan", "slot", "video", "audio", "canvas", "progress", "meter", "output", "data", "datalist", "legend",
		"ins", "del", "dfn", "map", "rb", "rtc"} {
		add(n)
	}
}

// scanMarkup decides what "<!" starts: a comment, a doctype, a CDATA
// section (in foreign content) or a bogus comment.
func (g *Guard) scanMarkup(b []byte) []byte {
	for i, c := range b {
		g.held = append(g.held, c)
		rest := g.held[2:]
		switch {
		case rest[0] == '-':
			if len(rest) < 2 {
				continue
			}
			if rest[1] == '-' {
				g.out(g.held)
				g.st, g.sub = sComment, cStart
				return b[i+1:]
			}
		case rest[0]|0x20 == 'd':
			if lower(c) != "doctype"[len(rest)-1] {
				break
			}
			if len(rest) == len("doctype") {
				g.st = sDoctype
				return b[i+1:]
			}
			continue
		case rest[0] == '[' && g.foreign():
			if c != "[CDATA["[len(rest)-1] {
				break
			}
			if len(rest) == len("[CDATA[") {
				g.out(g.held)
				g.st, g.sub = sCDATA, 0
				return b[i+1:]
			}
			continue
		}
		// A bogus comment: its text starts after "<!", with what was read.
		g.out(g.held[:2])
		again := append([]byte(nil), rest...)
		g.st = sBogus
		for len(again) > 0 {
			again = g.step(again)
		}
		return b[i+1:]
	}
	return nil
}

// foreign reports whether the current node is not an HTML element (so
// that "<![CDATA[" starts a CDATA section).
func (g *Guard) foreign() bool {
	top := g.top()
	return top != nil && top.ns != nsHTML
}

// scanComment passes a comment through to its end: "-->", "--!>", or
// "<!-->" and "<!--->" at its start.
func (g *Guard) scanComment(b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		end := false
		switch g.sub {
		case cStart:
			switch c {
			case '-':
				g.sub = cStartDash
			case '>':
				end = true
			default:
				g.sub = cBody
			}
		case cStartDash:
			switch c {
			case '-':
				g.sub = cEnd
			case '>':
				end = true
			default:
				g.sub = cBody
			}
		case cBody:
			j := bytes.IndexByte(b[i:], '-')
			if j < 0 {
				i = len(b) - 1
				continue
			}
			i += j
			g.sub = cEndDash
		case cEndDash:
			if c == '-' {
				g.sub = cEnd
			} else {
				g.sub = cBody
			}
		case cEnd:
			switch c {
			case '>':
				end = true
			case '!':
				g.sub = cEndBang
			case '-':
			default:
				g.sub = cBody
			}
		case cEndBang:
			switch c {
			case '-':
				g.sub = cEndDash
			case '>':
				end = true
			default:
				g.sub = cBody
			}
		}
		if end {
			g.out(b[:i+1])
			g.st = sData
			return b[i+1:]
		}
	}
	g.out(b)
	return nil
}

// scanRaw passes the text of a raw text element (RCDATA, raw text, script
// data) through to its end tag.
func (g *Guard) scanRaw(b []byte) []byte {
	name := g.raw
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch g.sub {
		case rData:
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				i = len(b) - 1
				continue
			}
			i += j
			g.sub = rLt
		case rLt:
			switch {
			case c == '/':
				g.sub, g.match = rEndName, 0
			case c == '!' && g.rawKind == pScript:
				g.sub = rEscStart
			default:
				g.sub = rData
				i--
			}
		case rEndName, rEscEndName:
			if g.match < len(name) && lower(c) == name[g.match] {
				g.match++
				if g.match == len(name) {
					g.sub++ // rEndFull, rEscEndFull
				}
				continue
			}
			g.sub = g.rawBack()
			i--
		case rEndFull, rEscEndFull:
			switch {
			case c == '>':
				g.out(b[:i+1])
				g.st = sData
				if g.scr.on {
					g.scriptText(b[:i+1])
					g.scriptEnd(len("</script>"))
				}
				return b[i+1:]
			case isSpace(c) || c == '/':
				// The end tag, with attributes: the rest is read as a tag.
				g.out(b[:i])
				g.st, g.ts, g.endTag, g.rawEnd, g.over, g.held = sTag, tsBeforeAttrName, true, true, false, g.held[:0]
				if g.scr.on {
					g.scriptText(b[:i])
					g.scr.end = true
				}
				return b[i:]
			default:
				g.sub = g.rawBack()
				i--
			}
		case rEscStart:
			if c == '-' {
				g.sub = rEscStartDash
			} else {
				g.sub = rData
				i--
			}
		case rEscStartDash:
			if c == '-' {
				g.sub = rEscDashDash
			} else {
				g.sub = rData
				i--
			}
		case rEsc:
			switch c {
			case '-':
				g.sub = rEscDash
			case '<':
				g.sub = rEscLt
			}
		case rEscDash:
			switch c {
			case '-':
				g.sub = rEscDashDash
			case '<':
				g.sub = rEscLt
			default:
				g.sub = rEsc
			}
		case rEscDashDash:
			switch c {
			case '-':
			case '<':
				g.sub = rEscLt
			case '>':
				g.sub, g.goData = rData, false
			default:
				g.sub = rEsc
			}
		case rEscLt:
			switch {
			case c == '/':
				g.sub, g.match = rEscEndName, 0
			case isAlpha(c):
				g.sub, g.dbl = rDblStart, 0
				i--
			default:
				g.sub, g.goData = rEsc, true
				i--
			}
		case rDblStart, rDblEnd:
			switch {
			case isSpace(c) || c == '/' || c == '>':
				isScript := g.dbl == len("script")
				switch {
				case g.sub == rDblStart && isScript && g.goData:
					// Go's parser reads this "<script" outside the escaped
					// state: end the script so that both agree.
					g.out(b[:i+1])
					g.out(scriptEnd)
					g.st = sData
					g.scr.on = false // cut short: it stays inert
					return b[i+1:]
				case g.sub == rDblStart && isScript:
					g.sub = rDbl
				case g.sub == rDblStart:
					g.sub = rEsc
				case isScript:
					g.sub = rEsc
				default:
					g.sub = rDbl
				}
			case isAlpha(c):
				if g.dbl >= 0 && g.dbl < len("script") && lower(c) == "script"[g.dbl] {
					g.dbl++
				} else {
					g.dbl = -1
				}
			default:
				if g.sub == rDblStart {
					g.sub = rEsc
				} else {
					g.sub = rDbl
				}
				i--
			}
		case rDbl:
			switch c {
			case '-':
				g.sub = rDblDash
			case '<':
				g.sub = rDblLt
			}
		case rDblDash:
			switch c {
			case '-':
				g.sub = rDblDashDash
			case '<':
				g.sub = rDblLt
			default:
				g.sub = rDbl
			}
		case rDblDashDash:
			switch c {
			case '-':
			case '<':
				g.sub = rDblLt
			case '>':
				g.sub = rData
			default:
				g.sub = rDbl
			}
		case rDblLt:
			if c == '/' {
				g.sub, g.dbl = rDblEnd, 0
			} else {
				g.sub = rDbl
				i--
			}
		}
	}
	g.out(b)
	if g.scr.on {
		g.scriptText(b)
	}
	return nil
}

// rawBack is the state an end tag that was not one falls back to.
func (g *Guard) rawBack() uint8 {
	if g.sub >= rEsc {
		return rEsc
	}
	return rData
}
