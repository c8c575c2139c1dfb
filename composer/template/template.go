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
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// ElementName is the tag that marks a fragment in a template.
const ElementName = "micro-frontend"

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
	Required bool          // errorbehaviour="error"
	Async    bool          // async attribute
	Timeout  time.Duration // 0: registry entry, else server default
	Loader   Loader
	Fallback []byte // children: fallback, or placeholder when Async
	Line     int    // line of the opening tag, 1-based
}

// Template is a compiled page template. It is immutable and safe for
// concurrent use.
type Template struct {
	Name  string
	Parts []Part
	Slots []Fragment
	// Async is the number of async slots.
	Async int
}

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
// found, each with its line.
func Compile(name string, src []byte) (*Template, error) {
	c := compiler{name: name, src: src, line: 1, tpl: &Template{Name: name}}
	c.run()
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return c.tpl, nil
}

type compiler struct {
	name string
	src  []byte
	line int // line at the start of the current token
	tpl  *Template
	errs Errors

	rawFrom int // where the pending run of raw bytes starts in src
	offset  int // offset of the current token

	rawStarts []int // offset in src of each part that is Raw, else -1

	open      *Fragment // element whose children are being read
	openLine  int
	childFrom int
	headDone  bool
}

func (c *compiler) addPart(p Part, rawStart int) {
	c.tpl.Parts = append(c.tpl.Parts, p)
	c.rawStarts = append(c.rawStarts, rawStart)
}

func (c *compiler) errorf(line int, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// flushRaw ends the pending raw run at offset end.
func (c *compiler) flushRaw(end int) {
	if end > c.rawFrom {
		c.addPart(Part{Kind: Raw, Raw: c.src[c.rawFrom:end:end]}, c.rawFrom)
	}
	c.rawFrom = end
}

func (c *compiler) run() {
	z := html.NewTokenizer(bytes.NewReader(c.src))
	z.SetMaxBuf(0)
	bodyEndOffset := -1
	for {
		tt := z.Next()
		raw := z.Raw()
		start := c.offset
		end := start + len(raw)
		if tt == html.ErrorToken {
			if err := z.Err(); err != io.EOF {
				c.errorf(c.line, "read: %v", err)
			}
			break
		}
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) != ElementName {
				break
			}
			if c.open != nil {
				c.errorf(c.line, "<%s> inside <%s id=%q> (opened on line %d): fragments do not nest", ElementName, ElementName, c.open.ID, c.openLine)
				break
			}
			// "<micro-frontend id=a/>" is, to an HTML parser, an open tag
			// with id "a/". Authors mean a self-closing element, so read it so.
			selfClosing := tt == html.SelfClosingTagToken || bytes.HasSuffix(raw, []byte("/>"))
			f := c.fragment(z, hasAttr, selfClosing)
			c.flushRaw(start)
			c.rawFrom = end
			if selfClosing {
				c.addSlot(f)
				break
			}
			c.open, c.openLine, c.childFrom = &f, c.line, end
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case ElementName:
				if c.open == nil {
					c.errorf(c.line, "</%s> without a matching <%s>", ElementName, ElementName)
					break
				}
				c.open.Fallback = c.src[c.childFrom:start:start]
				c.addSlot(*c.open)
				c.open = nil
				c.rawFrom = end
			case "head":
				if c.open == nil && !c.headDone {
					c.headDone = true
					c.flushRaw(start)
					c.addPart(Part{Kind: HeadOutlet}, -1)
				}
			case "body":
				if c.open == nil {
					bodyEndOffset = start
				}
			}
		}
		c.line += bytes.Count(raw, []byte{'\n'})
		c.offset = end
	}
	if c.open != nil {
		c.errorf(c.openLine, "<%s id=%q> is never closed: end it with </%s> or write it self-closing (<%s ... />)", ElementName, c.open.ID, ElementName, ElementName)
		return
	}
	c.flushRaw(len(c.src))
	if c.tpl.Async > 0 {
		c.placeAsyncOutlet(bodyEndOffset)
	}
}

// placeAsyncOutlet puts the async outlet just before the last </body>
// (offset at in src, which lies in a raw part), or at the end of the page.
func (c *compiler) placeAsyncOutlet(at int) {
	parts := c.tpl.Parts
	lastAsync := 0
	for i, p := range parts {
		if p.Kind == Slot && c.tpl.Slots[p.Slot].Async {
			lastAsync = i
		}
	}
	for i, p := range parts {
		// The outlet must follow every placeholder it fills.
		if p.Kind != Raw || at < 0 || i < lastAsync {
			continue
		}
		from := c.rawStarts[i]
		if at < from || at >= from+len(p.Raw) {
			continue
		}
		k := at - from
		out := make([]Part, 0, len(parts)+2)
		out = append(out, parts[:i]...)
		if k > 0 {
			out = append(out, Part{Kind: Raw, Raw: p.Raw[:k:k]})
		}
		out = append(out, Part{Kind: AsyncOutlet}, Part{Kind: Raw, Raw: p.Raw[k:]})
		c.tpl.Parts = append(out, parts[i+1:]...)
		return
	}
	c.tpl.Parts = append(parts, Part{Kind: AsyncOutlet})
}

func (c *compiler) addSlot(f Fragment) {
	if f.Async {
		c.tpl.Async++
	}
	c.tpl.Slots = append(c.tpl.Slots, f)
	c.addPart(Part{Kind: Slot, Slot: len(c.tpl.Slots) - 1}, -1)
}

// fragment reads the attributes of a <micro-frontend> tag.
func (c *compiler) fragment(z *html.Tokenizer, hasAttr, selfClosing bool) Fragment {
	f := Fragment{Line: c.line}
	seen := map[string]bool{}
	hasID := false
	for hasAttr {
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		key, val := string(k), string(v)
		if !hasAttr && selfClosing {
			val = strings.TrimSuffix(val, "/")
		}
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
		case "loader":
			switch l := Loader(strings.ToLower(strings.TrimSpace(val))); l {
			case LoaderURL, LoaderLambda, LoaderStepFunction:
				f.Loader = l
			default:
				c.errorf(c.line, "loader=%q: want \"url\", \"lambda\" or \"stepfunction\"", val)
			}
		default:
			if !strings.HasPrefix(key, "data-") {
				c.errorf(c.line, "unknown attribute %q: <%s> takes id, errorbehaviour, timeout, async, loader and data-*", key, ElementName)
			}
		}
	}
	if !hasID {
		c.errorf(c.line, "<%s> without id: the id names the fragment's registry entry", ElementName)
	}
	if f.Required && f.Async {
		c.errorf(c.line, "fragment %q is both async and errorbehaviour=\"error\": the page status cannot wait for a fragment streamed later", f.ID)
	}
	return f
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
