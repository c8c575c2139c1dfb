package htmlguard

import "bytes"

// The fast path. Most of what a fragment sends is text and plain tags
// that pass as they are: <div class="row">, <p>, <b>, <img src=...>,
// </p>. For such a tag the full path (tagEnd, tagName, startTagToken,
// attrs) asks questions whose answer is known beforehand: the element is
// one of a known name, nothing open is a table, a template, a select or
// MathML (or, inside svg, the tag stays there), nothing open would be
// closed by it, no attribute is dropped. fastRun answers them from a
// table of names and from what each open element records of the stack
// below it when it is pushed, and passes the tag on as written. Any other
// tag, or one it is unsure of, is left to the full path untouched, so
// that the output is the same byte for byte (a test compares both paths
// on the oracle's inputs, Guard.reference). docs/html-guard.md, "The
// fast path", says what goes where.

// What an open element records of the stack up to it (elem.memo), so that
// the fast path need not walk the stack. Elements are only pushed and
// popped, and what the memo reads of them never changes once pushed, so
// it stays true.
const (
	mPlain      uint8 = 1 << iota // every open element is an HTML one that no mode, select or template rule reads (plainSelf)
	mPOpen                        // a p is in button scope (inScope("p", true) finds one)
	mAOpen                        // an a is open after the last marker (a new a would close it)
	mLiOpen                       // an li is open before any special element but address, div and p (a new li would close it)
	mDdOpen                       // a dd or dt is, the same way (a new dd or dt would close it)
	mButtonOpen                   // a button is in scope (inScope("button", false) finds one)
	mFormPtr                      // the form element pointer is set (formPointer)
)

// What an element is, for the memos (elemBits).
const (
	bPlainSelf uint16 = 1 << iota // an HTML element but table, template, table parts, select, option, optgroup
	bP                            // an HTML p
	bPBarrier                     // ends button scope: scope() or an HTML button
	bA                            // an HTML a
	bMarker                       // an HTML element that inserts a marker (pMarker)
	bLi                           // an HTML li
	bDdDt                         // an HTML dd or dt
	bLiBarrier                    // special, but address, div and p
	bButton                       // an HTML button
	bScope                        // ends the default scope (scope())
	bFormPtr                      // the form the form element pointer points at
)

func elemBits(e *elem) uint16 {
	var b uint16
	if e.ns == nsHTML {
		switch e.name {
		case "table", "template", "caption", "colgroup", "col", "tbody", "thead", "tfoot", "tr", "td", "th",
			"select", "option", "optgroup":
		default:
			b |= bPlainSelf
		}
		if e.props&pMarker != 0 {
			b |= bMarker
		}
	}
	if e.is("p") {
		b |= bP
	}
	if e.scope() {
		b |= bScope | bPBarrier
	}
	if e.is("button") {
		b |= bButton | bPBarrier
	}
	if e.is("a") {
		b |= bA
	}
	if e.is("li") {
		b |= bLi
	}
	if e.is("dd") || e.is("dt") {
		b |= bDdDt
	}
	if special(e) && !e.is("address") && !e.is("div") && !e.is("p") {
		b |= bLiBarrier
	}
	if e.flags&eFormPointer != 0 {
		b |= bFormPtr
	}
	return b
}

// memoOf is the memo of an element of bits pushed on a stack whose top
// has memo below (mPlain for an empty stack), after the walks of inScope
// and startTagToken it stands for.
func memoOf(below uint8, bits uint16) uint8 {
	var m uint8
	if below&mPlain != 0 && bits&bPlainSelf != 0 {
		m |= mPlain
	}
	switch {
	case bits&bP != 0:
		m |= mPOpen
	case bits&bPBarrier != 0:
	default:
		m |= below & mPOpen
	}
	switch {
	case bits&bA != 0:
		m |= mAOpen
	case bits&bMarker != 0:
	default:
		m |= below & mAOpen
	}
	switch {
	case bits&bLi != 0:
		m |= mLiOpen
	case bits&bLiBarrier != 0:
	default:
		m |= below & mLiOpen
	}
	switch {
	case bits&bDdDt != 0:
		m |= mDdOpen
	case bits&bLiBarrier != 0:
	default:
		m |= below & mDdOpen
	}
	switch {
	case bits&bButton != 0:
		m |= mButtonOpen
	case bits&bScope != 0:
	default:
		m |= below & mButtonOpen
	}
	if bits&bFormPtr != 0 {
		m |= mFormPtr
	}
	return m | below&mFormPtr
}

// memoTop is the memo of the current node, mPlain when nothing is open.
func (g *Guard) memoTop() uint8 {
	if len(g.stack) == 0 {
		return mPlain
	}
	return g.stack[len(g.stack)-1].memo
}

// pushBits pushes e, whose elemBits are bits.
func (g *Guard) pushBits(e elem, bits uint16) {
	e.memo = memoOf(g.memoTop(), bits)
	if cap(g.stack) == 0 {
		g.stack = make([]elem, 0, 8) // one allocation where growing by doubling makes four
	}
	g.stack = append(g.stack, e)
}

// A name the fast path knows, keyed by its lower-case bytes (up to 16)
// packed in two uint64s.
type fastName struct {
	key, key2 uint64
	name      string
	props     props
	bits      uint16 // elemBits of the HTML element
	kind      uint8  // what startTagToken treats apart
	// memoOf(below, bits) is below&keep | set: each bit of the memo is
	// set, cleared or the one below.
	keep, set uint8
}

// Kinds of fastName.
const (
	fPlain  uint8 = iota
	fSlow         // its start tag always takes the full path
	fSVG          // svg: an svg element
	fMath         // math: a math element
	fButton       // button: closes a button in scope
	fDdDt         // dd, dt: closes a dd or dt
	fForm         // form: sets the form element pointer, dropped while it is set
)

const fastBits = 9 // the table has 1<<fastBits slots (about a third used)

var fastNames [1 << fastBits]fastName

func fastSlot(key, key2 uint64) uint64 {
	if key2 != 0 { // a name longer than 8 bytes
		key ^= key2 * 0xC2B2AE3D27D4EB4F
	}
	return (key * 0x9E3779B97F4A7C15) >> (64 - fastBits)
}

// initFast fills fastNames from known, and attrLens.
func initFast() {
	initAttrLens()
	for _, names := range known {
		for _, k := range names {
			if len(k.name) > 16 {
				continue
			}
			var key [2]uint64
			for i := range len(k.name) {
				key[i/8] |= uint64(k.name[i]) << (8 * (i % 8))
			}
			e := elem{name: k.name, props: k.props}
			f := fastName{key: key[0], key2: key[1], name: k.name, props: k.props, bits: elemBits(&e)}
			f.keep, f.set = memoOf(0xFF, f.bits), memoOf(0, f.bits)
			// What startTagToken treats apart, but for the walks the
			// memos stand for and the heading before a heading.
			if k.props&(pDrop|pRCDATA|pRawText|pScript|pTablePart) != 0 {
				f.kind = fSlow
			}
			switch k.name {
			case "meta", "template", "nobr", "option", "optgroup", "rb", "rtc", "rp", "rt":
				f.kind = fSlow
			case "svg":
				f.kind = fSVG
			case "math":
				f.kind = fMath
			case "button":
				f.kind = fButton
			case "dd", "dt":
				f.kind = fDdDt
			case "form":
				f.kind = fForm
			}
			s := fastSlot(key[0], key[1])
			for fastNames[s].key != 0 {
				s = (s + 1) & (1<<fastBits - 1)
			}
			fastNames[s] = f
		}
	}
}

// attrKindNames are the attribute names attrKind tells apart (lower
// case), and the prefix of those it tells apart by their start; attrLens
// marks, by first byte (either case), the lengths (below 32) of those
// names: an attribute name not marked is aOther without asking attrKind.
// A test checks that every name of attrKind is here.
var attrKindNames = []string{"id", "form", "formaction", "formmethod", "formenctype", "formtarget", "formnovalidate",
	"for", "list", "popovertarget", "commandfor", "interestfor", "interesttarget", "anchor", "headers", "itemref",
	"aria-activedescendant", "aria-actions", "aria-controls", "aria-describedby", "aria-details",
	"aria-errormessage", "aria-flowto", "aria-labelledby", "aria-labeledby", "aria-owns",
	"usemap", "href", "xlink:href", "name"}

const attrKindPrefix = "shadowroot"

var attrLens [256]uint32

func initAttrLens() {
	mark := func(c byte, n int) {
		attrLens[c] |= 1 << n
		attrLens[c-'a'+'A'] |= 1 << n
	}
	for _, n := range attrKindNames {
		mark(n[0], len(n))
	}
	for n := len(attrKindPrefix); n < 32; n++ {
		mark(attrKindPrefix[0], n)
	}
}

// nameByte is a byte of a name the fast path knows, in lower case, or 0.
var nameByte = func() (t [256]byte) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = byte(c), byte(c)
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	return t
}()

func lookupFast(key, key2 uint64) *fastName {
	for s := fastSlot(key, key2); ; s = (s + 1) & (1<<fastBits - 1) {
		f := &fastNames[s]
		if f.key == key && f.key2 == key2 {
			return f
		}
		if f.key == 0 {
			return nil
		}
	}
}

// fastRun passes the tags the fast path takes, and the text between
// them, from b[i] ('<') on: it returns the index of the first tag it
// leaves to the full path (i if the first), or len(b) if it took every
// tag to the end; a tag it leaves, it leaves with the guard untouched.
// What it took stays in the caller's run. The text needs no look at a
// colgroup (scanData's): a tag the fast path takes leaves none as the
// current node, since nothing is ever pushed on a colgroup (every start
// tag but col closes it first).
//
// A start tag is taken if it is complete in b, of a known name, with
// plainly written attributes none of which attrs would drop or change,
// and the memos say startTagToken would only push it (or, void, pass
// it); an end tag if it is "</name>" of the current node.
func (g *Guard) fastRun(b []byte, i int) int {
	for {
		var k int // the end of the tag taken
		{
			j := i + 1
			if j < len(b) && b[j] == '/' {
				n := g.fastEndTag(b, i)
				if n == 0 {
					return i
				}
				k = i + n
				goto taken
			}
			// The name, as tagEnd's tsName and tagName read it.
			var key, key2 uint64
			k = j
			for ; k < len(b); k++ {
				c := nameByte[b[k]]
				if c == 0 {
					break
				}
				switch n := k - j; {
				case n < 8:
					key |= uint64(c) << (8 * n)
				case n < 16:
					key2 |= uint64(c) << (8 * (n - 8))
				default:
					return i
				}
			}
			if k == j || k >= len(b) || !isAlpha(b[j]) {
				return i
			}
			if c := b[k]; !isSpace(c) && c != '/' && c != '>' {
				return i
			}
			f := lookupFast(key, key2)
			if f == nil || f.kind == fSlow {
				return i
			}
			m := g.memoTop()
			foreign := false // in svg, as startTagToken's foreign branch
			if m&mPlain == 0 {
				// Inside svg (not at an integration point), a tag that does not
				// break out of it is pushed as an svg element (of no raw text;
				// "/>" closes it). font (its attributes decide) and every other
				// case go to the full path, and, to be safe rather than quick, a
				// and desc (which need not: svgLinkToPage would read an svg
				// element either way, and foreignElem makes desc what it is).
				t := &g.stack[len(g.stack)-1]
				if t.ns != nsSVG || t.flags&(eHTMLIntegration|eTextIntegration) != 0 ||
					f.props&pBreakout != 0 || f.bits&bA != 0 || f.name == "font" || f.name == "desc" {
					return i
				}
				foreign = true
			}
			if len(g.stack)+3 > MaxDepth {
				return i
			}
			selfClosing := false
			// The attributes, as tagEnd reads them, to the tag's '>'. Whatever is
			// not plainly one of name, name=value, name="value", name='value'
			// (with spaces between, and "/>" at the end) goes to the full path.
			for {
				if k >= len(b) {
					return i
				}
				c := b[k]
				switch c {
				case '>':
					k++
					goto tagEnd
				case ' ', '\t', '\n', '\r', '\f':
					k++
					continue
				case '/':
					if k+1 < len(b) && b[k+1] == '>' {
						k += 2
						selfClosing = true
						goto tagEnd
					}
					return i
				case '=', '"', '\'', '<':
					return i
				}
				a := k
				k++
				for k < len(b) && !nameEnd[b[k]] {
					k++
				}
				if k >= len(b) {
					return i
				}
				ne := k // where its name ends
				v := -1 // where its value starts, as nextAttr reads it: with its quotes; -1 if none
				if b[k] == '=' {
					k++
					v = k
					if k >= len(b) {
						return i
					}
					switch q := b[k]; q {
					case '"', '\'':
						// Values are short: a loop costs less than IndexByte's call.
						k++
						for k < len(b) && b[k] != q {
							k++
						}
						k++
						if k >= len(b) {
							return i
						}
						if c := b[k]; !isSpace(c) && c != '/' && c != '>' {
							return i
						}
					case ' ', '\t', '\n', '\r', '\f':
						return i
					default: // unquoted, to a space or the '>'
						for k < len(b) && !valueEnd[b[k]] {
							k++
						}
					}
				}
				// What attrs would decide on it. Only a name attrKind tells
				// apart can be dropped or changed (no template takes this path,
				// so shadowroot* stays); the current node is the element's
				// parent here, where attrs sees the element itself, but both are
				// HTML elements (or none), which is all svgLinkToPage asks.
				if n := ne - a; n >= 32 || attrLens[c]&(1<<n) != 0 {
					var val []byte
					if v >= 0 {
						val = b[v:k]
					}
					if drop, keep := g.judge(attrKind(b[a:ne]), f.name, false, val); drop || keep != nil {
						return i
					}
				}
			}
		tagEnd:
			if foreign {
				if !selfClosing {
					g.push(foreignElem(f.name, nsSVG, false))
				}
				goto taken
			}
			// What startTagToken would do, from the memos.
			p := f.props
			if p&pClosesP != 0 {
				if f.kind == fForm && m&mFormPtr != 0 { // no template is open
					return i
				}
				if m&mPOpen != 0 {
					return i
				}
				if p&pHeading != 0 && len(g.stack) > 0 && g.stack[len(g.stack)-1].props&pHeading != 0 {
					return i
				}
				if f.bits&bLi != 0 && m&mLiOpen != 0 || f.kind == fDdDt && m&mDdOpen != 0 {
					return i
				}
			}
			if f.bits&bA != 0 && m&mAOpen != 0 || f.kind == fButton && m&mButtonOpen != 0 {
				return i
			}
			switch {
			case p&pVoid != 0:
			case f.kind == fSVG:
				if !selfClosing {
					g.push(foreignElem(f.name, nsSVG, false))
				}
			case f.kind == fMath:
				if !selfClosing {
					g.push(foreignElem(f.name, nsMath, false))
				}
			case f.kind == fForm:
				g.pushBits(elem{name: f.name, props: p, flags: eFormPointer}, f.bits|bFormPtr)
			default:
				if n := len(g.stack); n < cap(g.stack) {
					g.stack = g.stack[:n+1]
					g.stack[n] = elem{name: f.name, props: p, memo: m&f.keep | f.set}
				} else {
					g.pushBits(elem{name: f.name, props: p}, f.bits)
				}
			}
			goto taken
		}
	taken:
		i = k
		if i < len(b) && b[i] == '<' { // tags often follow each other
			continue
		}
		n := bytes.IndexByte(b[i:], '<')
		if n < 0 {
			return len(b)
		}
		i += n
	}
}

// fastEndTag passes the end tag at b[i] ("</") if it is "</name>" and name
// is the current node's: endTagToken would pop it and pass the tag.
func (g *Guard) fastEndTag(b []byte, i int) int {
	if len(g.stack) == 0 {
		return 0
	}
	name := g.stack[len(g.stack)-1].name
	k := i + 2
	if k+len(name) >= len(b) {
		return 0
	}
	for x := range len(name) {
		c := b[k+x]
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		if c != name[x] || c >= 0x80 {
			return 0
		}
	}
	if b[k+len(name)] != '>' {
		return 0
	}
	g.stack = g.stack[:len(g.stack)-1]
	return len(name) + 3
}
