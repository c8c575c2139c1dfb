// Package template compiles page templates once, so that serving a page
// never parses HTML.
//
// Data flow:
//
//	HTML bytes --Compile--> Template{Parts: raw | slot | head outlet | async outlet}
//	folder (fs.FS) --LoadSet--> Set{templates, routes.json, error pages}
//
// Bytes outside <micro-frontend> elements are kept exactly as written; the
// stream writer copies them to the browser and fills the slots with
// fragments.
package template

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/html"
)

// ElementName is the tag that marks a fragment in a template.
const ElementName = "micro-frontend"

// LayoutElement names the layout a template uses, and holds the regions it
// fills: <mfe-layout src="shell.html"><mfe-region name="main">...
const LayoutElement = "mfe-layout"

// RegionElement is a named region: in a layout, where a page's content goes
// (its children are the default); in a page, inside <mfe-layout>, the
// content for the layout's region of that name.
const RegionElement = "mfe-region"

// PartKind says what a Part of a compiled template is.
type PartKind uint8

// The kinds of parts a template compiles to.
const (
	// Raw bytes, written as they are.
	Raw PartKind = iota
	// Slot is a fragment: Part.Slot indexes Template.Slots.
	Slot
	// HeadOutlet stands just before </head>: the fragments' declared
	// stylesheets and scripts go there.
	HeadOutlet
	// AsyncOutlet stands just before the last </body> (or at the end): async
	// fragments are written there, in the order they complete.
	AsyncOutlet
)

// Part is one piece of a compiled template.
type Part struct {
	Kind PartKind
	Raw  []byte // for Raw
	Slot int    // for Slot: index into Template.Slots
}

// Loader is the transport a template asks for. Empty means the endpoint's
// form decides.
type Loader string

// The loaders accepted in the loader attribute.
const (
	LoaderAuto         Loader = ""
	LoaderURL          Loader = "url"
	LoaderLambda       Loader = "lambda"
	LoaderStepFunction Loader = "stepfunction"
)

// Fragment is one <micro-frontend> element of a template.
type Fragment struct {
	ID       string
	Required bool // errorbehaviour="error"
	Async    bool // async attribute
	// Client is the client attribute: the browser fills the slot through
	// a signed island request (package island); the page holds its
	// children as it would a failed fragment's.
	Client bool
	// ClientFallback is the client-fallback attribute: when the
	// server-side fetch fails, the browser tries once through an island
	// request before the children stay.
	ClientFallback bool
	Timeout        time.Duration // 0: registry entry, else server default
	Loader         Loader
	Fallback       []byte // children: fallback, or placeholder when Async
	Line           int    // line of the opening tag, 1-based
	// File is the file the element is written in when that is not the
	// template's own: its layout's (see Template.File).
	File string
}

// Template is a compiled page template. It is immutable and safe for
// concurrent use.
type Template struct {
	Name  string
	Parts []Part
	Slots []Fragment
	// Async is the number of async slots.
	Async int
	// IDs are the ids the template's own markup gives its elements (its
	// layout's included; its fragments' fallbacks, scripts and comments
	// not), as a browser reads them, and its maps' names (an image's
	// usemap finds a map by either); nil when there are none. The stream
	// writer reserves them for the page: a fragment's element may not take
	// one, nor refer to one (docs/html-guard.md).
	IDs map[string]bool
	// Scope is this compilation's own number, never another's (nor
	// another process's template's: numbers start at one in each): what
	// is kept by template elsewhere is kept under it. The stream writer's
	// guards remember the pieces they passed unchanged under IDs by it
	// (htmlguard.Guard.Scope).
	Scope uint64
}

// scopes numbers the compilations.
var scopes atomic.Uint64

// Error is a markup error at a place in a file: a line, and a column (in
// bytes) where one is known.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 && e.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every markup error found in one or more files, in order.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Compile parses src once and returns its compiled form. name is used in
// error messages. A non-nil error is of type Errors and lists every problem
// found, each with its line. A template that uses a layout compiles only in
// a set (BuildSet), where its layout is.
func Compile(name string, src []byte) (*Template, error) {
	s, errs := parse(name, src)
	if len(errs) > 0 {
		return nil, errs
	}
	r := newResolver(map[string]*source{name: s})
	t, ok := r.template(name)
	if !ok {
		return nil, r.errs
	}
	return t, nil
}

type compiler struct {
	name string
	src  []byte
	line int // line at the start of the current token
	errs Errors
	out  *source

	rawFrom int // where the pending run of raw bytes starts in src
	offset  int // offset of the current token

	// stack of open containers: the file itself, <mfe-layout>, a region
	stack []*container

	open      *Fragment // element whose children are being read
	openLine  int
	childFrom int

	// outsideLine is the line of the first content outside any region in a
	// file that uses a layout (0: none yet).
	outsideLine int
	outsideWhat string

	// rawText is the element whose text the next token is, when the last
	// token opened one that HTML reads as text (<title>, <script>...).
	rawText string
}

// rawTextElements are the elements whose content HTML reads as text, not
// as elements (as the tokenizer does, with scripting on).
var rawTextElements = map[string]bool{
	"iframe": true, "noembed": true, "noframes": true, "noscript": true, "plaintext": true,
	"script": true, "style": true, "textarea": true, "title": true, "xmp": true,
}

// ourTags are the tags the compiler reads.
var ourTags = []string{ElementName, LayoutElement, RegionElement}

// markupIn finds our tags in text (of a raw-text element, or a comment):
// each one's name and offset in text.
func markupIn(text []byte) (names []string, offsets []int) {
	lower := bytes.ToLower(text)
	for i := 0; i < len(lower); i++ {
		if lower[i] != '<' {
			continue
		}
		for _, tag := range ourTags {
			rest := lower[i+1:]
			if !bytes.HasPrefix(rest, []byte(tag)) {
				continue
			}
			rest = rest[len(tag):]
			if len(rest) == 0 || bytes.IndexByte([]byte(" \t\r\n\f/>"), rest[0]) >= 0 {
				names = append(names, tag)
				offsets = append(offsets, i)
			}
		}
	}
	return names, offsets
}

func (c *compiler) errorf(line int, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) top() *container { return c.stack[len(c.stack)-1] }

// flushRaw ends the pending raw run at offset end, adding it to the open
// container.
func (c *compiler) flushRaw(end int) {
	if end > c.rawFrom {
		cur := c.top()
		if cur.kind != inLayout {
			cur.nodes = append(cur.nodes, node{kind: nodeRaw, raw: c.src[c.rawFrom:end:end]})
		}
	}
	c.rawFrom = end
}

// outside notes content that a template using a layout would not show.
func (c *compiler) outside(what string) { c.outsideAt(c.line, what) }

func (c *compiler) outsideAt(line int, what string) {
	if c.outsideLine == 0 {
		c.outsideLine, c.outsideWhat = line, what
	}
}

func (c *compiler) run() {
	defer func() { // in file order
		sort.SliceStable(c.errs, func(i, j int) bool { return c.errs[i].Line < c.errs[j].Line })
	}()
	z := html.NewTokenizer(bytes.NewReader(c.src))
	z.SetMaxBuf(0)
	c.stack = []*container{{kind: inFile}}
	for {
		tt := z.Next()
		raw := z.Raw()
		start := c.offset
		end := start + len(raw)
		if tt == html.ErrorToken {
			if err := z.Err(); err != io.EOF {
				c.errorf(c.line, "read: %v", err)
			} else if len(raw) > 0 {
				// A browser drops a tag the file ends inside, and what it
				// stands for with it: a half-written save, most often.
				c.errorf(c.line, "the file ends inside the tag %s: finish it with \">\"", tagStart(raw))
			}
			break
		}
		if tt == html.CommentToken && !commentClosed(raw) {
			c.errorf(c.line, "the file ends inside a comment: close it with \"-->\"")
		}
		c.token(z, tt, raw, start, end)
		c.line += bytes.Count(raw, []byte{'\n'})
		c.offset = end
	}
	if c.open != nil {
		c.errorf(c.openLine, "<%s id=%q> is never closed: end it with </%s> or write it self-closing (<%s ... />)", ElementName, c.open.ID, ElementName, ElementName)
		return
	}
	c.flushRaw(len(c.src))
	for len(c.stack) > 1 {
		k := c.top()
		c.stack = c.stack[:len(c.stack)-1]
		switch k.kind {
		case inLayout:
			c.errorf(k.line, "<%s src=%q> is never closed: end it with </%s>", LayoutElement, c.out.layout.src, LayoutElement)
		default:
			c.errorf(k.line, "<%s name=%q> is never closed: end it with </%s>", RegionElement, k.name, RegionElement)
		}
	}
	file := c.stack[0]
	if c.out.layout != nil {
		if c.outsideLine > 0 {
			c.errs = append(c.errs, &Error{File: c.name, Line: c.outsideLine, Msg: fmt.Sprintf(
				"%s outside <%s>: a template that uses a layout is shown only through the regions it fills; move it into one", c.outsideWhat, RegionElement)})
		}
		return
	}
	c.out.nodes = file.nodes
}

// commentClosed says whether the comment raw ends as a browser ends it,
// rather than at the end of the file.
func commentClosed(raw []byte) bool {
	if !bytes.HasPrefix(raw, []byte("<!--")) { // a bogus comment: <!x>, <?x>
		return bytes.HasSuffix(raw, []byte(">"))
	}
	s := string(raw)
	return s == "<!-->" || s == "<!--->" || strings.HasSuffix(s, "-->") || strings.HasSuffix(s, "--!>")
}

// tagStart is the start of an unfinished tag, up to its name's end.
func tagStart(raw []byte) string {
	if i := bytes.IndexAny(raw, " \t\r\n\f"); i >= 0 {
		raw = raw[:i]
	}
	const max = 40
	if len(raw) > max {
		return strconv.Quote(string(raw[:max])) + "..."
	}
	return string(raw)
}

// token handles one token of the file.
func (c *compiler) token(z *html.Tokenizer, tt html.TokenType, raw []byte, start, end int) {
	cur := c.top()
	inRawText := c.rawText
	c.rawText = ""
	switch tt {
	case html.CommentToken:
		c.comment(raw)
	case html.TextToken:
		if inRawText != "" {
			names, offsets := markupIn(raw)
			for i, tag := range names {
				if tag == ElementName && inRawText == "script" {
					continue // a script may build the markup as a string
				}
				line := c.line + bytes.Count(raw[:offsets[i]], []byte{'\n'})
				hint := ""
				if inRawText == "title" || inRawText == "textarea" { // their text decodes entities
					hint = " (or write &lt; if it is meant as text)"
				}
				c.errorf(line, "<%s> inside <%s> is text to the browser, not an element: put the whole <%s> in a region%s", tag, inRawText, inRawText, hint)
			}
		}
		if c.open == nil && (cur.kind == inLayout || cur.kind == inFile) && len(bytes.TrimSpace(raw)) > 0 {
			lead := len(raw) - len(bytes.TrimLeft(raw, " \t\r\n\f"))
			c.outsideAt(c.line+bytes.Count(raw[:lead], []byte{'\n'}), "text")
		}
	case html.DoctypeToken:
		if c.open == nil && (cur.kind == inLayout || cur.kind == inFile) {
			c.outside("<!doctype>")
		}
	case html.StartTagToken, html.SelfClosingTagToken:
		name, hasAttr := z.TagName()
		tag := string(name)
		// "<x id=a/>" is, to an HTML parser, an open tag with id "a/".
		// Authors mean a self-closing element, so read it so.
		selfClosing := tt == html.SelfClosingTagToken || bytes.HasSuffix(raw, []byte("/>"))
		if rawTextElements[tag] {
			c.rawText = tag
		}
		switch tag {
		case ElementName:
			if c.open != nil {
				c.errorf(c.line, "<%s> inside <%s id=%q> (opened on line %d): fragments do not nest", ElementName, ElementName, c.open.ID, c.openLine)
				return
			}
			if cur.kind == inLayout || cur.kind == inFile {
				c.outside("<" + ElementName + ">")
			}
			f := c.fragment(z, hasAttr, selfClosing)
			c.flushRaw(start)
			c.rawFrom = end
			if selfClosing {
				c.addSlot(f)
				return
			}
			c.open, c.openLine, c.childFrom = &f, c.line, end
		case LayoutElement, RegionElement:
			if c.open != nil {
				c.errorf(c.line, "<%s> inside <%s id=%q> (opened on line %d): a fallback cannot hold layout markup", tag, ElementName, c.open.ID, c.openLine)
				return
			}
			attrs := c.attrs(z, hasAttr, selfClosing, tag)
			c.flushRaw(start)
			c.rawFrom = end
			if tag == LayoutElement {
				c.layoutStart(attrs, selfClosing)
			} else {
				c.regionStart(attrs, selfClosing, end)
			}
		default:
			if c.open == nil && (cur.kind == inLayout || cur.kind == inFile) {
				c.outside("<" + tag + ">")
			}
		}
	case html.EndTagToken:
		name, _ := z.TagName()
		tag := string(name)
		switch tag {
		case ElementName:
			if c.open == nil {
				c.errorf(c.line, "</%s> without a matching <%s>", ElementName, ElementName)
				return
			}
			c.open.Fallback = c.src[c.childFrom:start:start]
			c.addSlot(*c.open)
			c.open = nil
			c.rawFrom = end
		case LayoutElement, RegionElement:
			closesTop := (tag == RegionElement && (cur.kind == inRegion || cur.kind == inFill)) || (tag == LayoutElement && cur.kind == inLayout)
			if c.open != nil && !closesTop {
				c.errorf(c.line, "</%s> inside <%s id=%q> (opened on line %d): a fallback cannot hold layout markup", tag, ElementName, c.open.ID, c.openLine)
				return
			}
			if c.open != nil {
				// It closes what the fragment is in: the fragment was not
				// closed, and that is the one problem.
				c.errorf(c.openLine, "<%s id=%q> is never closed: end it with </%s> before </%s> (line %d), or write it self-closing (<%s ... />)", ElementName, c.open.ID, ElementName, tag, c.line, ElementName)
				c.open = nil
				c.rawFrom = start
				c.top().bad = true
			}
			c.flushRaw(start)
			c.rawFrom = end
			c.end(tag)
		case "head", "body":
			if c.open != nil {
				return
			}
			if cur.kind == inLayout || cur.kind == inFile {
				c.outside("</" + tag + ">")
			}
			c.flushRaw(start)
			kind := nodeHeadEnd
			if tag == "body" {
				kind = nodeBodyEnd
			}
			cur.nodes = append(cur.nodes, node{kind: kind})
		default:
			if c.open == nil && (cur.kind == inLayout || cur.kind == inFile) {
				c.outside("</" + tag + ">")
			}
		}
	}
}

func (c *compiler) addSlot(f Fragment) {
	f.File = c.name
	cur := c.top()
	cur.nodes = append(cur.nodes, node{kind: nodeSlot, frag: f})
}

// comment notes the regions written inside a comment (turned off, most
// often): a page that fills one is told where it went.
func (c *compiler) comment(raw []byte) {
	names, offsets := markupIn(raw)
	for i, tag := range names {
		if tag != RegionElement {
			continue
		}
		z := html.NewTokenizer(bytes.NewReader(raw[offsets[i]:]))
		if tt := z.Next(); tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		for _, a := range z.Token().Attr {
			if a.Key == "name" {
				name := strings.TrimSuffix(strings.TrimSpace(a.Val), "/")
				if _, ok := c.out.commented[name]; !ok && name != "" {
					c.out.commented[name] = c.line + bytes.Count(raw[:offsets[i]], []byte{'\n'})
				}
			}
		}
	}
}

// attrs reads the attributes of an <mfe-layout> or <mfe-region> tag: the
// one each takes (src, name) and data-*.
func (c *compiler) attrs(z *html.Tokenizer, hasAttr, selfClosing bool, tag string) map[string]string {
	want := "src"
	if tag == RegionElement {
		want = "name"
	}
	out := map[string]string{}
	for hasAttr {
		var key, val string
		key, val, hasAttr = tagAttr(z, selfClosing)
		if _, dup := out[key]; dup {
			c.errorf(c.line, "attribute %q given twice", key)
			continue
		}
		out[key] = strings.TrimSpace(val)
		if key != want && !strings.HasPrefix(key, "data-") {
			c.errorf(c.line, "unknown attribute %q: <%s> takes %s and data-*", key, tag, want)
		}
	}
	if out[want] == "" {
		c.errorf(c.line, "<%s> without %s", tag, want)
	}
	return out
}

func (c *compiler) layoutStart(attrs map[string]string, selfClosing bool) {
	cur := c.top()
	k := &container{kind: inLayout, line: c.line}
	switch {
	case cur.kind != inFile:
		c.errorf(c.line, "<%s> inside <%s>: a template names its layout at its top, outside any region", LayoutElement, cur.tag())
		k.bad = true
	case c.out.layout != nil:
		c.errorf(c.line, "a second <%s>: a template has one layout (the first is on line %d)", LayoutElement, c.out.layout.line)
		k.bad = true
	default:
		c.out.layout = &layoutUse{src: attrs["src"], line: c.line, fills: map[string]*fill{}}
	}
	if !selfClosing {
		c.stack = append(c.stack, k)
	}
}

func (c *compiler) regionStart(attrs map[string]string, selfClosing bool, end int) {
	cur := c.top()
	name := attrs["name"]
	k := &container{kind: inRegion, line: c.line, name: name, bad: cur.bad}
	switch cur.kind {
	case inLayout:
		k.kind = inFill
	case inRegion:
		c.errorf(c.line, "<%s name=%q> inside <%s name=%q> (opened on line %d): regions do not nest", RegionElement, name, RegionElement, cur.name, cur.line)
		k.bad = true
	case inFill, inFile:
		if cur.kind == inFile {
			c.outside("<" + RegionElement + ">")
		}
		if first, ok := c.out.regions[name]; ok && name != "" {
			c.errorf(c.line, "region %q declared twice (first on line %d)", name, first)
			k.bad = true
		} else if !k.bad {
			c.out.regions[name] = c.line
		}
	}
	if selfClosing {
		c.close(k)
		return
	}
	c.stack = append(c.stack, k)
}

// end handles </mfe-layout> and </mfe-region>.
func (c *compiler) end(tag string) {
	cur := c.top()
	switch {
	case tag == LayoutElement && cur.kind == inLayout:
		c.stack = c.stack[:len(c.stack)-1]
	case tag == RegionElement && (cur.kind == inRegion || cur.kind == inFill):
		c.stack = c.stack[:len(c.stack)-1]
		c.close(cur)
	case tag == LayoutElement && cur.kind == inFill && len(c.stack) > 2 && c.stack[len(c.stack)-2].kind == inLayout:
		// The region was not closed: that is the one problem.
		c.errorf(cur.line, "<%s name=%q> is never closed: end it with </%s> before </%s> (line %d)", RegionElement, cur.name, RegionElement, LayoutElement, c.line)
		c.stack = c.stack[:len(c.stack)-2]
	case cur.kind == inRegion || cur.kind == inFill:
		c.errorf(c.line, "</%s> while <%s name=%q> (line %d) is open", tag, RegionElement, cur.name, cur.line)
	case cur.kind == inLayout:
		c.errorf(c.line, "</%s> while <%s> (line %d) is open", tag, LayoutElement, cur.line)
	default:
		c.errorf(c.line, "</%s> without a matching <%s>", tag, tag)
	}
}

// close ends region k: a fill of the layout's region, or a region of this
// template's own, with its default content.
func (c *compiler) close(k *container) {
	if k.name == "" || k.bad {
		return // reported already
	}
	nodes := trimLines(k.nodes)
	if k.kind == inFill {
		l := c.out.layout
		if f, ok := l.fills[k.name]; ok {
			c.errorf(k.line, "region %q filled twice (first on line %d)", k.name, f.line)
			return
		}
		l.fills[k.name] = &fill{line: k.line, nodes: nodes}
		return
	}
	cur := c.top()
	cur.nodes = append(cur.nodes, node{kind: nodeRegion, region: &region{name: k.name, file: c.name, line: k.line, def: nodes}})
}

// fragment reads the attributes of a <micro-frontend> tag.
// tagAttr reads the tag's next attribute. In a self-closing tag written
// without a space before "/>" (<x a=b/>), the tokenizer leaves the "/" on
// the last value: it is not part of it.
func tagAttr(z *html.Tokenizer, selfClosing bool) (key, val string, more bool) {
	k, v, more := z.TagAttr()
	key, val = string(k), string(v)
	if !more && selfClosing {
		val = strings.TrimSuffix(val, "/")
	}
	return key, val, more
}

func (c *compiler) fragment(z *html.Tokenizer, hasAttr, selfClosing bool) Fragment {
	f := Fragment{Line: c.line}
	seen := map[string]bool{}
	hasID := false
	for hasAttr {
		var key, val string
		key, val, hasAttr = tagAttr(z, selfClosing)
		if key == "errorbehavior" { // the American spelling is a common slip
			key = "errorbehaviour"
		}
		if seen[key] {
			c.errorf(c.line, "attribute %q given twice", key)
			continue
		}
		seen[key] = true
		switch key {
		case "id":
			hasID = true
			f.ID = strings.TrimSpace(val)
			if f.ID == "" {
				c.errorf(c.line, "empty id: the id names the fragment's registry entry")
			}
		case "errorbehaviour":
			switch strings.ToLower(strings.TrimSpace(val)) {
			case "hide":
			case "error":
				f.Required = true
			default:
				c.errorf(c.line, "errorbehaviour=%q: want \"hide\" or \"error\"", val)
			}
		case "timeout":
			d, err := time.ParseDuration(strings.TrimSpace(val))
			switch {
			case err != nil:
				c.errorf(c.line, "timeout=%q: want a Go duration such as \"300ms\" or \"2s\"", val)
			case d <= 0:
				c.errorf(c.line, "timeout=%q: must be more than zero", val)
			default:
				f.Timeout = d
			}
		case "async":
			switch strings.ToLower(strings.TrimSpace(val)) {
			case "", "async", "true":
				f.Async = true
			case "false":
			default:
				c.errorf(c.line, "async=%q: async is a boolean attribute; write it bare", val)
			}
		case "client", "client-fallback":
			switch strings.ToLower(strings.TrimSpace(val)) {
			case "", key, "true":
				if key == "client" {
					f.Client = true
				} else {
					f.ClientFallback = true
				}
			case "false":
			default:
				c.errorf(c.line, "%s=%q: %s is a boolean attribute; write it bare", key, val, key)
			}
		case "loader":
			switch l := Loader(strings.ToLower(strings.TrimSpace(val))); l {
			case LoaderURL, LoaderLambda, LoaderStepFunction:
				f.Loader = l
			default:
				c.errorf(c.line, "loader=%q: want \"url\", \"lambda\" or \"stepfunction\"", val)
			}
		default:
			if !strings.HasPrefix(key, "data-") {
				c.errorf(c.line, "unknown attribute %q: <%s> takes id, errorbehaviour, timeout, async, client, client-fallback, loader and data-*", key, ElementName)
			}
		}
	}
	if !hasID {
		c.errorf(c.line, "<%s> without id: the id names the fragment's registry entry", ElementName)
	}
	if f.Required && f.Async {
		c.errorf(c.line, "fragment %q is both async and errorbehaviour=\"error\": the page status cannot wait for a fragment streamed later", f.ID)
	}
	switch {
	case f.Required && f.Client:
		c.errorf(c.line, "fragment %q is both client and errorbehaviour=\"error\": the page status cannot wait for the browser", f.ID)
	case f.Required && f.ClientFallback:
		c.errorf(c.line, "fragment %q is both client-fallback and errorbehaviour=\"error\": a required fragment that fails fails the page", f.ID)
	case f.Client && f.Async:
		c.errorf(c.line, "fragment %q is both client and async: a client slot is never fetched with the page", f.ID)
	}
	if hasID && f.ID != "" {
		w := f
		w.File = c.name
		c.out.written = append(c.out.written, w)
	}
	return f
}

// File is the file that the fragment f of t is written in: t's own, or the
// layout's that holds it.
func (t *Template) File(f Fragment) string {
	if f.File != "" {
		return f.File
	}
	return t.Name
}

// String renders the template's structure for tests and debugging.
func (t *Template) String() string {
	var b strings.Builder
	for _, p := range t.Parts {
		switch p.Kind {
		case Raw:
			b.WriteString(strconv.Quote(string(p.Raw)))
		case Slot:
			f := t.Slots[p.Slot]
			fmt.Fprintf(&b, "{%s}", f.ID)
		case HeadOutlet:
			b.WriteString("{head}")
		case AsyncOutlet:
			b.WriteString("{async}")
		}
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}
