package htmlguard

// What the guard needs to know about an HTML element, after the HTML
// standard's tree construction rules ("in body" and the table modes).
type props uint32

const (
	pVoid       props = 1 << iota // no end tag and no children: br, img, input, ...
	pDrop                         // never passed: it would act on the page's document (html, head, body, base, frameset, plaintext, ...)
	pRCDATA                       // its text is read as RCDATA: title, textarea
	pRawText                      // its text is read as raw text: style, xmp, iframe, ...
	pScript                       // script: script data, with its escape states
	pClosesP                      // an open p in button scope is closed before it
	pHeading                      // h1 .. h6
	pFormatting                   // kept in the list of active formatting elements
	pMarker                       // inserts a marker in that list: applet, marquee, object (and td, th, caption, template)
	pSpecial                      // the standard's "special" category
	pScope                        // ends the default scope
	pTablePart                    // caption, colgroup, col, tbody, thead, tfoot, tr, td, th
	pBreakout                     // leaves foreign content (svg, math) when it starts there
	pImpliedEnd                   // its end tag may be implied: dd, dt, li, optgroup, option, p, rb, rp, rt, rtc
)

var elementProps = map[string]props{}

func init() {
	set := func(p props, names ...string) {
		for _, n := range names {
			elementProps[n] |= p
		}
	}
	set(pVoid, "area", "base", "basefont", "bgsound", "br", "col", "embed", "hr", "img", "image", "input",
		"keygen", "link", "meta", "param", "source", "track", "wbr")
	set(pDrop, "html", "head", "body", "frameset", "frame", "base", "plaintext", "isindex")
	// search's tags are dropped, its content kept: the standard (and Go's
	// parser) has it special, Chromium's tree builder does not (a <dt>
	// closes through it there), so the two would disagree on what is
	// open after it. Without the element, both read the same.
	set(pDrop, "search")
	set(pRCDATA, "title", "textarea")
	set(pRawText, "style", "xmp", "iframe", "noembed", "noframes", "noscript")
	set(pScript, "script")
	set(pClosesP, "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl",
		"fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu", "nav", "ol", "p",
		"section", "summary", "ul", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "listing", "form", "li", "dd", "dt",
		"table", "hr", "xmp", "plaintext")
	set(pHeading, "h1", "h2", "h3", "h4", "h5", "h6")
	set(pFormatting, "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u")
	set(pMarker, "applet", "marquee", "object", "td", "th", "caption", "template")
	set(pSpecial, "address", "applet", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote", "body",
		"br", "button", "caption", "center", "col", "colgroup", "dd", "details", "dir", "div", "dl", "dt", "embed",
		"fieldset", "figcaption", "figure", "footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6",
		"head", "header", "hgroup", "hr", "html", "iframe", "img", "input", "keygen", "li", "link", "listing", "main",
		"marquee", "menu", "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p", "param", "plaintext",
		"pre", "script", "section", "select", "source", "style", "summary", "table", "tbody", "td",
		"template", "textarea", "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp")
	// Go's parser also ends the default scope at select.
	set(pScope, "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "select")
	set(pTablePart, "caption", "colgroup", "col", "tbody", "thead", "tfoot", "tr", "td", "th")
	set(pBreakout, "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed",
		"h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta", "nobr", "ol",
		"p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var")
	set(pImpliedEnd, "dd", "dt", "li", "optgroup", "option", "p", "rb", "rp", "rt", "rtc")
	initKnown()
	initFast()
}

// Namespaces of open elements.
const (
	nsHTML uint8 = iota
	nsSVG
	nsMath
)

// Flags of an open element.
const (
	eHTMLIntegration uint8 = 1 << iota // svg foreignObject, desc, title; math annotation-xml for HTML
	eTextIntegration                   // math mi, mo, mn, ms, mtext
	eFormPointer                       // the form the parser's form element pointer points at
	eModeSet                           // a template whose insertion mode its first start tag has set (tmode)
)

// elem is an element the fragment left open, as the parser sees it.
type elem struct {
	name  string // lower case, as the tokenizer gives it
	ns    uint8
	flags uint8
	tmode mode  // for a template: the insertion mode of its contents
	memo  uint8 // what the stack up to it is, for the fast path (fast.go)
	props props // for HTML elements
}

// scope reports whether e ends the default scope (for an element of the
// HTML namespace) or is an integration point (for foreign ones).
func (e elem) scope() bool {
	if e.ns != nsHTML {
		return e.flags&(eHTMLIntegration|eTextIntegration) != 0
	}
	return e.props&pScope != 0
}

func (e elem) is(name string) bool { return e.ns == nsHTML && e.name == name }

// foreignElem describes a start tag inserted in foreign content (or svg or
// math starting it), in namespace ns.
func foreignElem(name string, ns uint8, htmlEncoding bool) elem {
	e := elem{name: name, ns: ns}
	switch {
	case ns == nsSVG && (name == "foreignobject" || name == "desc" || name == "title"):
		e.flags = eHTMLIntegration
	case ns == nsMath && (name == "mi" || name == "mo" || name == "mn" || name == "ms" || name == "mtext"):
		e.flags = eTextIntegration
	case ns == nsMath && name == "annotation-xml" && htmlEncoding:
		e.flags = eHTMLIntegration
	}
	return e
}
