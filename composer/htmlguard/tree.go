package htmlguard

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// The guard's copy of the parser's stack of open elements. It holds
// because the guard only lets through start tags whose effect on the stack
// it knows, and makes every implicit close explicit: before a tag that
// would make the parser close elements, it writes their end tags itself.
// Then every open element is closed by its own end tag, formatting
// elements included, so the parser's list of active formatting elements
// holds nothing that is not on the stack, and the form pointer is cleared
// when the form is closed.

func (g *Guard) top() *elem {
	if len(g.stack) == 0 {
		return nil
	}
	return &g.stack[len(g.stack)-1]
}

// closeTop writes the end tag of the current element and pops it.
func (g *Guard) closeTop() {
	e := g.stack[len(g.stack)-1]
	g.stack = g.stack[:len(g.stack)-1]
	g.scratch = append(append(append(g.scratch[:0], "</"...), e.name...), '>')
	g.out(g.scratch)
}

// closeTo closes elements until n are left.
func (g *Guard) closeTo(n int) {
	for len(g.stack) > n {
		g.closeTop()
	}
}

func (g *Guard) topIs(name string) bool {
	t := g.top()
	return t != nil && t.is(name)
}

func (g *Guard) push(e elem) {
	g.pushBits(e, elemBits(&e))
}

// Insertion modes, as far as the guard tells them apart.
type mode uint8

const (
	mBody mode = iota // in body, in template
	mTable
	mTableBody
	mRow
	mCell
	mCaption
	mColgroup
)

// mode is the parser's insertion mode, found as the parser resets it:
// from the nearest element that decides it.
func (g *Guard) mode() mode {
	for i := len(g.stack) - 1; i >= 0; i-- {
		e := &g.stack[i]
		if e.ns != nsHTML {
			continue
		}
		switch e.name {
		case "td", "th":
			return mCell
		case "tr":
			return mRow
		case "tbody", "thead", "tfoot":
			return mTableBody
		case "caption":
			return mCaption
		case "colgroup":
			return mColgroup
		case "table":
			return mTable
		case "template":
			return e.tmode // mBody until set
		}
	}
	return mBody
}

// inScope returns the index of the nearest open HTML element named name
// within the default scope (button: also not past a button), or -1.
func (g *Guard) inScope(name string, button bool) int {
	for i := len(g.stack) - 1; i >= 0; i-- {
		e := &g.stack[i]
		if e.is(name) {
			return i
		}
		if e.scope() || button && e.is("button") {
			return -1
		}
	}
	return -1
}

// inForeign reports whether an svg or math element is open.
func (g *Guard) inForeign() bool {
	for i := range g.stack {
		if g.stack[i].ns != nsHTML {
			return true
		}
	}
	return false
}

func (g *Guard) has(name string) bool {
	for i := range g.stack {
		if g.stack[i].is(name) {
			return true
		}
	}
	return false
}

// formPointer reports whether the parser's form element pointer is set.
func (g *Guard) formPointer() bool {
	for i := range g.stack {
		if g.stack[i].flags&eFormPointer != 0 {
			return true
		}
	}
	return false
}

// inSelect reports whether the current node is a select or an option or
// optgroup in one.
func (g *Guard) inSelect() bool {
	for i := len(g.stack) - 1; i >= 0; i-- {
		switch e := &g.stack[i]; {
		case e.is("select"):
			return true
		case e.is("option"), e.is("optgroup"):
		default:
			return false
		}
	}
	return false
}

// special reports whether e is in the standard's special category.
func special(e *elem) bool {
	switch e.ns {
	case nsHTML:
		return e.props&pSpecial != 0
	case nsMath:
		switch e.name {
		case "mi", "mo", "mn", "ms", "mtext", "annotation-xml":
			return true
		}
	case nsSVG:
		switch e.name {
		case "foreignobject", "desc", "title":
			return true
		}
	}
	return false
}

// startTagToken decides on a start tag, writing end tags first if it must;
// false drops the tag.
func (g *Guard) startTagToken(name string, p props, tag []byte, selfClosing bool) bool {
	if len(g.stack)+3 > MaxDepth && p&(pVoid|pRCDATA|pRawText|pScript) == 0 {
		return false
	}
	if top := g.top(); top != nil && top.ns != nsHTML {
		html := top.flags&eHTMLIntegration != 0 ||
			top.flags&eTextIntegration != 0 && name != "mglyph" && name != "malignmark" ||
			top.ns == nsMath && top.name == "annotation-xml" && name == "svg"
		if !html {
			if p&pBreakout == 0 && !(name == "font" && hasAttr(tag, "color", "face", "size")) {
				if p&pTablePart != 0 || name == "frameset" || name == "html" {
					// Go's parser takes an svg or math element of such a
					// name for the HTML one when it resets its insertion
					// mode.
					return false
				}
				// A foreign element: no raw text, and "/>" closes it.
				if !selfClosing {
					g.push(foreignElem(name, top.ns, name == "annotation-xml" && htmlEncoding(tag)))
				}
				return true
			}
			// It leaves foreign content: close up to an HTML element or an
			// integration point.
			for t := g.top(); t != nil && t.ns != nsHTML && t.flags&(eHTMLIntegration|eTextIntegration) == 0; t = g.top() {
				g.closeTop()
			}
		}
	}
	if p&pDrop != 0 || name == "template" && g.inForeign() {
		// A template inside svg or math makes Go's parser ignore the rest
		// of the document.
		return false
	}
	if name == "meta" && hasAttr(tag, "http-equiv", "charset", "name") {
		// It acts on the whole document, as <base> would: http-equiv
		// (refresh navigates the page; content-security-policy,
		// set-cookie, default-style), charset, name (referrer, viewport,
		// theme-color, ...). A microdata <meta itemprop> stays.
		return false
	}
	if g.inSelect() {
		switch name {
		case "option":
			if g.topIs("option") {
				g.closeTop()
			}
		case "optgroup":
			if g.topIs("option") {
				g.closeTop()
			}
			if g.topIs("optgroup") {
				g.closeTop()
			}
		default:
			return false // select holds options only
		}
		g.push(elem{name: name, props: p})
		return true
	}
	if t := g.top(); t != nil && t.is("template") && t.flags&eModeSet == 0 && p&pTablePart == 0 {
		// Its first start tag puts a template's contents in body mode.
		t.flags |= eModeSet
	}
	m := g.mode()
	if m == mColgroup {
		if name == "col" {
			return true
		}
		// Anything else closes the column group.
		g.closeTo(g.indexOf("colgroup"))
		m = g.mode()
	}
	if p&pTablePart != 0 {
		return g.tablePart(name, p) // dropped outside tables, as the parser ignores it
	}
	if (m == mTable || m == mTableBody || m == mRow) && (name == "table" || name == "form") {
		return false // a table would close the table; a form would be popped at once, the pointer left set
	}
	switch {
	case name == "a":
		for i := len(g.stack) - 1; i >= 0; i-- {
			e := &g.stack[i]
			if e.is("a") {
				g.closeTo(i)
				break
			}
			if e.ns == nsHTML && e.props&pMarker != 0 {
				break
			}
		}
	case name == "nobr":
		if i := g.inScope("nobr", false); i >= 0 {
			g.closeTo(i)
		}
	case p&pClosesP != 0:
		if name == "form" && g.formPointer() && !g.has("template") {
			return false
		}
		if i := g.inScope("p", true); i >= 0 {
			g.closeTo(i)
		}
		switch {
		case p&pHeading != 0:
			if t := g.top(); t != nil && t.ns == nsHTML && t.props&pHeading != 0 {
				g.closeTop()
			}
		case name == "li" || name == "dd" || name == "dt":
			for i := len(g.stack) - 1; i >= 0; i-- {
				e := &g.stack[i]
				if e.is(name) || name != "li" && (e.is("dd") || e.is("dt")) {
					g.closeTo(i)
					break
				}
				if special(e) && !e.is("address") && !e.is("div") && !e.is("p") {
					break
				}
			}
		}
	case name == "button":
		if i := g.inScope("button", false); i >= 0 {
			g.closeTo(i)
		}
	case name == "option" || name == "optgroup":
		if g.topIs("option") {
			g.closeTop()
		}
	case name == "rb" || name == "rtc" || name == "rp" || name == "rt":
		if g.inScope("ruby", false) >= 0 {
			for t := g.top(); t != nil && t.ns == nsHTML && t.props&pImpliedEnd != 0 && !(t.name == "rtc" && (name == "rp" || name == "rt")); t = g.top() {
				g.closeTop()
			}
		}
	}
	switch {
	case p&pVoid != 0:
	case p&(pRCDATA|pRawText|pScript) != 0:
		g.st, g.sub, g.raw, g.rawKind, g.goData = sRaw, rData, name, p&(pRCDATA|pRawText|pScript), false
	case name == "svg":
		if !selfClosing {
			g.push(foreignElem(name, nsSVG, false))
		}
	case name == "math":
		if !selfClosing {
			g.push(foreignElem(name, nsMath, false))
		}
	default:
		e := elem{name: name, props: p}
		if name == "form" && !g.has("template") {
			e.flags |= eFormPointer
		}
		g.push(e)
	}
	return true
}

func (g *Guard) indexOf(name string) int {
	for i := len(g.stack) - 1; i >= 0; i-- {
		if g.stack[i].is(name) {
			return i
		}
	}
	return -1
}

// tablePart places a table part start tag in the fragment's nearest table,
// closing what is open inside it and opening what the parser would imply.
func (g *Guard) tablePart(name string, p props) bool {
	// t is the fragment's nearest table, or a template that stands for a
	// table, a table body or a row (its contents' mode, which the first
	// table part in it sets).
	t, root := -1, mTable
	for i := len(g.stack) - 1; i >= 0; i-- {
		e := &g.stack[i]
		if e.is("table") {
			t = i
			break
		}
		if e.is("template") {
			if e.flags&eModeSet == 0 {
				switch name {
				case "caption", "colgroup", "tbody", "thead", "tfoot":
					e.tmode = mTable
				case "tr":
					e.tmode = mTableBody
				case "td", "th":
					e.tmode = mRow
				default:
					return false // col: column group mode, which ignores all but col
				}
				e.flags |= eModeSet
			}
			t, root = i, e.tmode
			break
		}
	}
	if t < 0 || root == mBody {
		return false
	}
	switch {
	case root == mTableBody && name == "tr", root == mRow && (name == "td" || name == "th"):
		g.closeTo(t + 1)
		g.push(elem{name: name, props: p})
		return true
	case root == mTableBody && (name == "td" || name == "th"):
		if j := g.indexOf("tr"); j > t {
			g.closeTo(j + 1)
		} else {
			g.closeTo(t + 1)
			g.push(elem{name: "tr", props: elementProps["tr"]})
		}
		g.push(elem{name: name, props: p})
		return true
	case root != mTable:
		return false // the parser ignores it: no table body or row in table scope
	}
	find := func(names ...string) int {
		for i := len(g.stack) - 1; i > t; i-- {
			for _, n := range names {
				if g.stack[i].is(n) {
					return i
				}
			}
		}
		return -1
	}
	implied := func(n string) { g.push(elem{name: n, props: elementProps[n]}) }
	switch name {
	case "caption", "colgroup", "tbody", "thead", "tfoot":
		g.closeTo(t + 1)
	case "col":
		g.closeTo(t + 1)
		implied("colgroup")
		return true
	case "tr":
		if j := find("tbody", "thead", "tfoot"); j >= 0 {
			g.closeTo(j + 1)
		} else {
			g.closeTo(t + 1)
			implied("tbody")
		}
	case "td", "th":
		if j := find("tr"); j >= 0 {
			g.closeTo(j + 1)
		} else if j := find("tbody", "thead", "tfoot"); j >= 0 {
			g.closeTo(j + 1)
			implied("tr")
		} else {
			g.closeTo(t + 1)
			implied("tbody")
			implied("tr")
		}
	}
	g.push(elem{name: name, props: p})
	return true
}

// endTagToken decides on an end tag: it passes (after the end tags of the
// elements inside it) if it closes an element the fragment opened, within
// scope; else it is dropped.
func (g *Guard) endTagToken(name string) bool {
	tablePart := name == "table" || name == "tbody" || name == "thead" || name == "tfoot" || name == "tr"
	for i := len(g.stack) - 1; i >= 0; i-- {
		e := &g.stack[i]
		if e.name == name {
			g.closeTo(i + 1)
			g.stack = g.stack[:i]
			return true
		}
		if e.scope() && !(tablePart && (e.is("td") || e.is("th") || e.is("caption"))) {
			return false
		}
	}
	return false
}

// hasAttr reports whether the start tag has one of the attributes.
func hasAttr(tag []byte, names ...string) bool {
	z := html.NewTokenizer(bytes.NewReader(tag))
	z.Next()
	z.TagName()
	for {
		k, _, more := z.TagAttr()
		for _, n := range names {
			if string(k) == n {
				return true
			}
		}
		if !more {
			return false
		}
	}
}

// htmlEncoding reports whether an annotation-xml start tag makes it an
// HTML integration point.
func htmlEncoding(tag []byte) bool {
	z := html.NewTokenizer(bytes.NewReader(tag))
	z.Next()
	z.TagName()
	for {
		k, v, more := z.TagAttr()
		if string(k) == "encoding" && (strings.EqualFold(string(v), "text/html") || strings.EqualFold(string(v), "application/xhtml+xml")) {
			return true
		}
		if !more {
			return false
		}
	}
}
