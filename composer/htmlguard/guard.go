package htmlguard

import (
	"bytes"
	"unicode/utf8"
)

// guard keeps one fragment's HTML from breaking the page around it, while
// the fragment streams chunk by chunk. It is a small tokenizer, not a
// parser: it tracks what would swallow or re-nest the page's own markup
// that follows the fragment, and closes or drops it:
//
//   - an unterminated comment or raw-text element (script, style, textarea,
//     title, ...) is closed at the fragment's end;
//   - an element the fragment opened and did not close is closed at its end
//     (elements whose end tag HTML implies, such as p, li or td, are closed
//     by their container instead);
//   - an end tag for an element the fragment did not open (a stray </div>
//     that would close the page's container) is dropped, as is a tag cut off
//     by the end of the fragment, and html, head, body, frameset and
//     plaintext tags, which no fragment may use;
//   - invalid UTF-8 becomes U+FFFD.
//
// Text passes through as sub-slices of the input: no copy on the common
// path. A tag is held back until its '>' (bounded by maxTag) so it can be
// dropped.
type Guard struct {
	state    guardState
	tag      []byte // the pending tag, from '<'
	ts       uint8  // where in the tag
	rawEnd   []byte // in raw text: the end tag to look for, e.g. "</script"
	rawMatch int    // how much of rawEnd was just seen
	comment  int    // in a comment: how many '-' just seen
	stack    []string
	utf8Tail []byte // an incomplete UTF-8 sequence held from the last chunk
}

type guardState uint8

const (
	inText guardState = iota
	inTag
	inComment
	inRaw
	inRawClose
)

const (
	maxTag   = 8 << 10 // a longer tag is passed through unchecked
	maxStack = 256
)

// tagClass says how the guard treats an element.
type tagClass uint8

const (
	classRaw         tagClass = 1 << iota // holds raw text until its end tag: script, style, textarea, title, ...
	classVoid                             // has no end tag: br, img, input, ...
	classImplied                          // HTML implies its end tag (p, li, td, ...): not tracked
	classForbidden                        // would restructure the document: html, head, body, frameset, plaintext
	classForeignLeaf                      // SVG and MathML leaves, commonly written self-closing
)

// classify returns the interned name and class of a known element name,
// given in lower case; ok is false for other names. A switch, not a map:
// it allocates nothing and reads no hash.
func classify(name []byte) (string, tagClass, bool) {
	switch string(name) {
	case "a":
		return "a", 0, true
	case "abbr":
		return "abbr", 0, true
	case "area":
		return "area", classVoid, true
	case "article":
		return "article", 0, true
	case "aside":
		return "aside", 0, true
	case "audio":
		return "audio", 0, true
	case "b":
		return "b", 0, true
	case "base":
		return "base", classVoid, true
	case "blockquote":
		return "blockquote", 0, true
	case "body":
		return "body", classForbidden, true
	case "br":
		return "br", classVoid, true
	case "button":
		return "button", 0, true
	case "canvas":
		return "canvas", 0, true
	case "caption":
		return "caption", classImplied, true
	case "circle":
		return "circle", classForeignLeaf, true
	case "cite":
		return "cite", 0, true
	case "code":
		return "code", 0, true
	case "col":
		return "col", classVoid, true
	case "colgroup":
		return "colgroup", classImplied, true
	case "data":
		return "data", 0, true
	case "datalist":
		return "datalist", 0, true
	case "dd":
		return "dd", classImplied, true
	case "defs":
		return "defs", 0, true
	case "del":
		return "del", 0, true
	case "details":
		return "details", 0, true
	case "dfn":
		return "dfn", 0, true
	case "dialog":
		return "dialog", 0, true
	case "div":
		return "div", 0, true
	case "dl":
		return "dl", 0, true
	case "dt":
		return "dt", classImplied, true
	case "ellipse":
		return "ellipse", classForeignLeaf, true
	case "em":
		return "em", 0, true
	case "embed":
		return "embed", classVoid, true
	case "fieldset":
		return "fieldset", 0, true
	case "figcaption":
		return "figcaption", 0, true
	case "figure":
		return "figure", 0, true
	case "footer":
		return "footer", 0, true
	case "form":
		return "form", 0, true
	case "frame":
		return "frame", classForbidden, true
	case "frameset":
		return "frameset", classForbidden, true
	case "g":
		return "g", 0, true
	case "h1":
		return "h1", 0, true
	case "h2":
		return "h2", 0, true
	case "h3":
		return "h3", 0, true
	case "h4":
		return "h4", 0, true
	case "h5":
		return "h5", 0, true
	case "h6":
		return "h6", 0, true
	case "head":
		return "head", classForbidden, true
	case "header":
		return "header", 0, true
	case "hgroup":
		return "hgroup", 0, true
	case "hr":
		return "hr", classVoid, true
	case "html":
		return "html", classForbidden, true
	case "i":
		return "i", 0, true
	case "iframe":
		return "iframe", classRaw, true
	case "img":
		return "img", classVoid, true
	case "input":
		return "input", classVoid, true
	case "ins":
		return "ins", 0, true
	case "kbd":
		return "kbd", 0, true
	case "label":
		return "label", 0, true
	case "legend":
		return "legend", 0, true
	case "li":
		return "li", classImplied, true
	case "line":
		return "line", classForeignLeaf, true
	case "link":
		return "link", classVoid, true
	case "main":
		return "main", 0, true
	case "map":
		return "map", 0, true
	case "mark":
		return "mark", 0, true
	case "math":
		return "math", 0, true
	case "menu":
		return "menu", 0, true
	case "meta":
		return "meta", classVoid, true
	case "meter":
		return "meter", 0, true
	case "mi":
		return "mi", classForeignLeaf, true
	case "mn":
		return "mn", classForeignLeaf, true
	case "mo":
		return "mo", classForeignLeaf, true
	case "mrow":
		return "mrow", 0, true
	case "mspace":
		return "mspace", classForeignLeaf, true
	case "nav":
		return "nav", 0, true
	case "noembed":
		return "noembed", classRaw, true
	case "noframes":
		return "noframes", classRaw, true
	case "noscript":
		return "noscript", classRaw, true
	case "object":
		return "object", 0, true
	case "ol":
		return "ol", 0, true
	case "optgroup":
		return "optgroup", classImplied, true
	case "option":
		return "option", classImplied, true
	case "output":
		return "output", 0, true
	case "p":
		return "p", classImplied, true
	case "param":
		return "param", classVoid, true
	case "path":
		return "path", classForeignLeaf, true
	case "picture":
		return "picture", 0, true
	case "plaintext":
		return "plaintext", classForbidden, true
	case "polygon":
		return "polygon", classForeignLeaf, true
	case "polyline":
		return "polyline", classForeignLeaf, true
	case "pre":
		return "pre", 0, true
	case "progress":
		return "progress", 0, true
	case "q":
		return "q", 0, true
	case "rb":
		return "rb", classImplied, true
	case "rect":
		return "rect", classForeignLeaf, true
	case "rp":
		return "rp", classImplied, true
	case "rt":
		return "rt", classImplied, true
	case "rtc":
		return "rtc", classImplied, true
	case "s":
		return "s", 0, true
	case "samp":
		return "samp", 0, true
	case "script":
		return "script", classRaw, true
	case "search":
		return "search", 0, true
	case "section":
		return "section", 0, true
	case "select":
		return "select", 0, true
	case "slot":
		return "slot", 0, true
	case "small":
		return "small", 0, true
	case "source":
		return "source", classVoid, true
	case "span":
		return "span", 0, true
	case "stop":
		return "stop", classForeignLeaf, true
	case "strong":
		return "strong", 0, true
	case "style":
		return "style", classRaw, true
	case "sub":
		return "sub", 0, true
	case "summary":
		return "summary", 0, true
	case "sup":
		return "sup", 0, true
	case "svg":
		return "svg", 0, true
	case "table":
		return "table", 0, true
	case "tbody":
		return "tbody", classImplied, true
	case "td":
		return "td", classImplied, true
	case "template":
		return "template", 0, true
	case "text":
		return "text", 0, true
	case "textarea":
		return "textarea", classRaw, true
	case "tfoot":
		return "tfoot", classImplied, true
	case "th":
		return "th", classImplied, true
	case "thead":
		return "thead", classImplied, true
	case "time":
		return "time", 0, true
	case "title":
		return "title", classRaw, true
	case "tr":
		return "tr", classImplied, true
	case "track":
		return "track", classVoid, true
	case "u":
		return "u", 0, true
	case "ul":
		return "ul", 0, true
	case "use":
		return "use", classForeignLeaf, true
	case "var":
		return "var", 0, true
	case "video":
		return "video", 0, true
	case "wbr":
		return "wbr", classVoid, true
	case "xmp":
		return "xmp", classRaw, true
	}
	return "", 0, false
}

// feed passes the safe form of chunk to emit.
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
	g.scan(chunk, emit)
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

func (g *Guard) scan(b []byte, emit func([]byte)) {
	for len(b) > 0 {
		switch g.state {
		case inText:
			b = g.scanText(b, emit)
		case inTag:
			b = g.scanTag(b, emit)
		case inComment:
			b = g.scanComment(b, emit)
		case inRaw:
			b = g.scanRaw(b, emit)
		case inRawClose:
			b = g.scanRawClose(b, emit)
		}
	}
}

// Tag sub-states, after the HTML tokenizer's, so that quotes and '>' are
// read exactly as a browser reads them.
const (
	tsOpen           uint8 = iota // just after '<'
	tsEndOpen                     // just after "</"
	tsName                        // tag name
	tsBeforeAttrName              // also after an unquoted value
	tsAttrName
	tsAfterAttrName
	tsBeforeAttrValue
	tsValueDQ
	tsValueSQ
	tsValueUnquoted
	tsAfterValueQuoted
	tsSelfClosing
	tsBang     // "<!"
	tsBangDash // "<!-"
	tsBogus    // "<!...>", "<?...>", "</ ...>": ends at the first '>'
)

var spaces = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\f': true}

func isSpace(c byte) bool { return spaces[c] }

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// scanText passes text and whole tags through, emitting one run per chunk
// unless a tag must be dropped: most fragments are well-formed, and one
// write is cheaper than many.
func (g *Guard) scanText(b []byte, emit func([]byte)) []byte {
	run, pos := 0, 0 // b[run:pos] is passed but not yet emitted
	for {
		i := bytes.IndexByte(b[pos:], '<')
		if i < 0 {
			emit(b[run:])
			return nil
		}
		i += pos
		n := completeTag(b[i:])
		if n == 0 {
			// A comment, a doctype, or a tag that continues in the next
			// chunk: the slow path.
			if i > run {
				emit(b[run:i])
			}
			g.state, g.tag, g.ts = inTag, append(g.tag[:0], '<'), tsOpen
			return b[i+1:]
		}
		if !g.handleTag(b[i : i+n]) {
			if i > run {
				emit(b[run:i])
			}
			run = i + n
		}
		pos = i + n
		if g.state != inText { // a raw-text element began
			if pos > run {
				emit(b[run:pos])
			}
			return b[pos:]
		}
	}
}

// scanTag reads a tag up to its '>' and decides what to do with it. The
// tag's bytes are added to g.tag once per call, not byte by byte.
func (g *Guard) scanTag(b []byte, emit func([]byte)) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		done := false
		switch g.ts {
		case tsOpen:
			switch {
			case isAlpha(c):
				g.ts = tsName
			case c == '/':
				g.ts = tsEndOpen
			case c == '!':
				g.ts = tsBang
			case c == '?':
				g.ts = tsBogus
			default:
				// "<" followed by anything else is text; c is read again as text.
				emit(g.tag[:1])
				g.state, g.tag = inText, g.tag[:0]
				return b[i:]
			}
		case tsBang, tsBangDash:
			switch {
			case c == '-' && g.ts == tsBang:
				g.ts = tsBangDash
			case c == '-':
				g.tag = append(g.tag, b[:i+1]...)
				emit(g.tag)
				g.state, g.comment, g.tag = inComment, 0, g.tag[:0]
				return b[i+1:]
			case c == '>':
				done = true
			default:
				g.ts = tsBogus
			}
		case tsEndOpen:
			switch {
			case isAlpha(c):
				g.ts = tsName
			case c == '>':
				done = true // "</>" is ignored by browsers
			default:
				g.ts = tsBogus
			}
		case tsName:
			switch {
			case isSpace(c):
				g.ts = tsBeforeAttrName
			case c == '/':
				g.ts = tsSelfClosing
			case c == '>':
				done = true
			}
		case tsBeforeAttrName, tsAfterAttrName:
			switch {
			case isSpace(c):
			case c == '/':
				g.ts = tsSelfClosing
			case c == '>':
				done = true
			case c == '=' && g.ts == tsAfterAttrName:
				g.ts = tsBeforeAttrValue
			default: // includes '=' before a name: it is part of the name
				g.ts = tsAttrName
			}
		case tsAttrName:
			switch {
			case isSpace(c):
				g.ts = tsAfterAttrName
			case c == '/':
				g.ts = tsSelfClosing
			case c == '=':
				g.ts = tsBeforeAttrValue
			case c == '>':
				done = true
			}
		case tsBeforeAttrValue:
			switch {
			case isSpace(c):
			case c == '"':
				g.ts = tsValueDQ
			case c == '\'':
				g.ts = tsValueSQ
			case c == '>':
				done = true
			default:
				g.ts = tsValueUnquoted
			}
		case tsValueDQ, tsValueSQ:
			q := byte('"')
			if g.ts == tsValueSQ {
				q = '\''
			}
			j := bytes.IndexByte(b[i:], q)
			if j < 0 {
				i = len(b) - 1
				continue
			}
			i += j
			g.ts = tsAfterValueQuoted
		case tsValueUnquoted:
			switch {
			case isSpace(c):
				g.ts = tsBeforeAttrName
			case c == '>':
				done = true
			}
		case tsAfterValueQuoted, tsSelfClosing:
			switch {
			case isSpace(c):
				g.ts = tsBeforeAttrName
			case c == '/':
				g.ts = tsSelfClosing
			case c == '>':
				done = true
			default:
				g.ts = tsAttrName
			}
		case tsBogus:
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				i = len(b) - 1
				continue
			}
			i += j
			done = true
		}
		if done {
			g.tag = append(g.tag, b[:i+1]...)
			g.state = inText
			g.endTag(emit)
			return b[i+1:]
		}
	}
	if len(g.tag)+len(b) > maxTag {
		// Too long to hold: let it through and stop checking it.
		emit(g.tag)
		emit(b)
		g.tag = g.tag[:0]
		g.state = inText
		return nil
	}
	g.tag = append(g.tag, b...)
	return nil
}

// completeTag returns the length of the start or end tag at the start of b
// ("<a ...>" or "</a ...>") if it ends within b, else 0. It reads quotes
// and '=' as the HTML tokenizer does. Comments, doctypes and anything else
// return 0 and take the slow path.
func completeTag(b []byte) int {
	i := 1
	if i < len(b) && b[i] == '/' {
		i++
	}
	if i >= len(b) || !isAlpha(b[i]) {
		return 0
	}
	for i < len(b) && !isSpace(b[i]) && b[i] != '/' && b[i] != '>' {
		i++
	}
	for i < len(b) {
		switch c := b[i]; {
		case c == '>':
			return i + 1
		case isSpace(c) || c == '/':
			i++
		default: // an attribute: its name (a leading '=' belongs to it), then maybe a value
			i++
			for i < len(b) && !isSpace(b[i]) && b[i] != '/' && b[i] != '>' && b[i] != '=' {
				i++
			}
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			if i >= len(b) || b[i] != '=' {
				continue
			}
			i++
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			if i >= len(b) {
				return 0
			}
			switch q := b[i]; q {
			case '"', '\'':
				j := bytes.IndexByte(b[i+1:], q)
				if j < 0 {
					return 0
				}
				i += j + 2
				// After a quoted value anything but space, '/' or '>' starts
				// a new attribute name: the loop reads it as one.
			case '>':
				return i + 1
			default:
				for i < len(b) && !isSpace(b[i]) && b[i] != '>' {
					i++
				}
			}
		}
	}
	return 0
}

// endTag handles a complete tag in g.tag.
func (g *Guard) endTag(emit func([]byte)) {
	tag := g.tag
	g.tag = g.tag[:0]
	if g.handleTag(tag) {
		emit(tag)
	}
}

// handleTag records the complete tag and says whether to pass it (true) or
// drop it.
func (g *Guard) handleTag(tag []byte) bool {
	name, class, closing := tagName(tag)
	switch {
	case name == "" || tag[1] == '!' || tag[1] == '?' || (closing && !isAlpha(tag[2])):
		return true // doctype, bogus comment, "</>": harmless
	case class&classForbidden != 0:
		return false
	case closing:
		for i := len(g.stack) - 1; i >= 0; i-- {
			if g.stack[i] == name {
				g.stack = g.stack[:i]
				return true
			}
		}
		// "</p>" and friends are the fragment's own business; any other
		// stray end tag is dropped: it would close the page's element.
		return class&classImplied != 0
	default:
		selfClosing := len(tag) >= 2 && tag[len(tag)-2] == '/'
		switch {
		case class&classRaw != 0:
			g.state, g.rawMatch = inRaw, 0
			g.rawEnd = append(append(g.rawEnd[:0], "</"...), name...)
		case class&(classVoid|classImplied) != 0 || (selfClosing && class&classForeignLeaf != 0):
		case len(g.stack) < maxStack:
			g.stack = append(g.stack, name)
		}
		return true
	}
}

// tagName returns the lower-case name of the tag in t ("<div ...>" or
// "</div>"), its class, and whether it is an end tag.
func tagName(t []byte) (string, tagClass, bool) {
	t = t[1:]
	closing := len(t) > 0 && t[0] == '/'
	if closing {
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
		if n, class, ok := classify(buf[:end]); ok {
			return n, class, closing
		}
	}
	return string(bytes.ToLower(t[:end])), 0, closing
}

func (g *Guard) scanComment(b []byte, emit func([]byte)) []byte {
	for i, c := range b {
		switch {
		case c == '-':
			g.comment++
		case c == '>' && g.comment >= 2:
			emit(b[:i+1])
			g.state = inText
			return b[i+1:]
		default:
			g.comment = 0
		}
	}
	emit(b)
	return nil
}

// scanRaw passes raw text through until the element's end tag, which may
// be split across chunks: rawMatch counts how much of "</name" was seen.
func (g *Guard) scanRaw(b []byte, emit func([]byte)) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if g.rawMatch == len(g.rawEnd) {
			if isTagEnd(c) {
				emit(b[:i])
				g.state, g.rawMatch = inRawClose, 0
				return b[i:]
			}
			g.rawMatch = 0
		}
		switch {
		case lower(c) == g.rawEnd[g.rawMatch]:
			g.rawMatch++
		case c == '<':
			g.rawMatch = 1
		default:
			g.rawMatch = 0
		}
	}
	emit(b)
	return nil
}

// scanRawClose passes the rest of a raw-text end tag through to its '>'.
func (g *Guard) scanRawClose(b []byte, emit func([]byte)) []byte {
	i := bytes.IndexByte(b, '>')
	if i < 0 {
		emit(b)
		return nil
	}
	emit(b[:i+1])
	g.state = inText
	return b[i+1:]
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isTagEnd(c byte) bool {
	return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// close emits what the fragment left open, innermost first.
func (g *Guard) Close(emit func([]byte)) {
	if len(g.utf8Tail) > 0 {
		g.utf8Tail = nil
		if g.state == inText || g.state == inRaw || g.state == inComment {
			emit([]byte("\uFFFD"))
		}
	}
	switch g.state {
	case inTag:
		// A tag cut off by the end of the fragment is dropped.
	case inComment:
		emit([]byte("-->"))
	case inRaw:
		emit(append(append([]byte(nil), g.rawEnd...), '>'))
	case inRawClose:
		emit([]byte(">"))
	}
	g.state = inText
	for i := len(g.stack) - 1; i >= 0; i-- {
		emit([]byte("</" + g.stack[i] + ">"))
	}
	g.stack = g.stack[:0]
}
