package stream

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
type guard struct {
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

// rawText elements hold text until their own end tag.
var rawText = map[string]bool{
	"script": true, "style": true, "textarea": true, "title": true, "xmp": true,
	"iframe": true, "noembed": true, "noframes": true, "noscript": true,
}

// voidElements have no end tag.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "param": true, "source": true, "track": true, "wbr": true,
}

// impliedEnd elements are closed by HTML without an end tag; the guard does
// not track them.
var impliedEnd = map[string]bool{
	"p": true, "li": true, "dt": true, "dd": true, "option": true, "optgroup": true,
	"tr": true, "td": true, "th": true, "thead": true, "tbody": true, "tfoot": true,
	"rb": true, "rt": true, "rp": true, "rtc": true, "colgroup": true, "caption": true,
}

// forbidden tags would restructure the whole document.
var forbidden = map[string]bool{
	"html": true, "head": true, "body": true, "frameset": true, "frame": true, "plaintext": true,
}

// feed passes the safe form of chunk to emit.
func (g *guard) feed(chunk []byte, emit func([]byte)) {
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

func (g *guard) scan(b []byte, emit func([]byte)) {
	for len(b) > 0 {
		switch g.state {
		case inText:
			i := bytes.IndexByte(b, '<')
			if i < 0 {
				emit(b)
				return
			}
			if i > 0 {
				emit(b[:i])
			}
			g.state, g.tag, g.ts = inTag, append(g.tag[:0], '<'), tsOpen
			b = b[i+1:]
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
	tsBogus // "<!...>", "<?...>", "</ ...>": ends at the first '>'
)

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// scanTag reads a tag up to its '>' and decides what to do with it.
func (g *guard) scanTag(b []byte, emit func([]byte)) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		g.tag = append(g.tag, c)
		done := false
		switch g.ts {
		case tsOpen:
			switch {
			case isAlpha(c):
				g.ts = tsName
			case c == '/':
				g.ts = tsEndOpen
			case c == '!' || c == '?':
				g.ts = tsBogus
			default:
				// "<" followed by anything else is text; c is read again as text.
				emit(g.tag[:1])
				g.state, g.tag = inText, g.tag[:0]
				return b[i:]
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
		case tsValueDQ:
			if c == '"' {
				g.ts = tsAfterValueQuoted
			}
		case tsValueSQ:
			if c == '\'' {
				g.ts = tsAfterValueQuoted
			}
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
			if len(g.tag) == 4 && string(g.tag) == "<!--" {
				emit(g.tag)
				g.state, g.comment, g.tag = inComment, 0, g.tag[:0]
				return b[i+1:]
			}
			done = c == '>'
		}
		if done {
			g.state = inText
			g.endTag(emit)
			return b[i+1:]
		}
		if len(g.tag) > maxTag {
			// Too long to hold: let it through and stop checking it.
			emit(g.tag)
			g.tag = g.tag[:0]
			g.state = inText
			return b[i+1:]
		}
	}
	return nil
}

// endTag handles a complete tag in g.tag.
func (g *guard) endTag(emit func([]byte)) {
	tag := g.tag
	g.tag = g.tag[:0]
	name, closing := tagName(tag)
	switch {
	case name == "" || tag[1] == '!' || tag[1] == '?' || (closing && !isAlpha(tag[2])):
		emit(tag) // doctype, bogus comment, "</>": harmless
	case forbidden[name]:
		// dropped
	case closing:
		for i := len(g.stack) - 1; i >= 0; i-- {
			if g.stack[i] == name {
				g.stack = g.stack[:i]
				emit(tag)
				return
			}
		}
		if impliedEnd[name] {
			emit(tag) // "</p>" and friends are the fragment's own business
		}
		// Otherwise a stray end tag: dropped, it would close the page's element.
	default:
		emit(tag)
		selfClosing := len(tag) >= 2 && tag[len(tag)-2] == '/'
		switch {
		case rawText[name]:
			g.state, g.rawMatch = inRaw, 0
			g.rawEnd = append(append(g.rawEnd[:0], "</"...), name...)
		case voidElements[name] || impliedEnd[name] || (selfClosing && isForeignLeaf(name)):
		case len(g.stack) < maxStack:
			g.stack = append(g.stack, name)
		}
	}
}

// isForeignLeaf names SVG and MathML elements that are commonly written
// self-closing ("<path ... />"), which in foreign content really closes.
func isForeignLeaf(name string) bool {
	switch name {
	case "path", "circle", "rect", "line", "polyline", "polygon", "ellipse", "use", "stop", "mi", "mo", "mn", "mspace":
		return true
	}
	return false
}

// tagName returns the lower-case name of the tag in t ("<div ...>" or
// "</div>") and whether it is an end tag.
func tagName(t []byte) (string, bool) {
	t = t[1:]
	closing := len(t) > 0 && t[0] == '/'
	if closing {
		t = t[1:]
	}
	end := 0
	for end < len(t) && t[end] != ' ' && t[end] != '\t' && t[end] != '\n' && t[end] != '\r' && t[end] != '\f' && t[end] != '/' && t[end] != '>' {
		end++
	}
	return string(bytes.ToLower(t[:end])), closing
}

func (g *guard) scanComment(b []byte, emit func([]byte)) []byte {
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
func (g *guard) scanRaw(b []byte, emit func([]byte)) []byte {
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
func (g *guard) scanRawClose(b []byte, emit func([]byte)) []byte {
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
func (g *guard) close(emit func([]byte)) {
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
