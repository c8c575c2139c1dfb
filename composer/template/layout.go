package template

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/net/html"
)

// Layouts. A template names a layout and fills its regions:
//
//	<mfe-layout src="shell.html">
//	<mfe-region name="main">...</mfe-region>
//	</mfe-layout>
//
// and the layout, an ordinary template of the same set, says where each
// region goes, with its default content:
//
//	<body><mfe-region name="main"><p>Nothing here yet.</p></mfe-region></body>
//
// Each file is parsed once into nodes (raw bytes, fragments, </head> and
// </body> marks, regions); a template that uses a layout is its layout's
// nodes with the regions it fills replaced by its content. The result is
// then cut into Parts exactly as a file without layout is, so that a page
// costs the same to serve either way.

type nodeKind uint8

const (
	nodeRaw nodeKind = iota
	nodeSlot
	nodeHeadEnd // a </head> outside fallbacks: the first gets the head outlet
	nodeBodyEnd // a </body> outside fallbacks: the last gets the async outlet
	nodeRegion  // a region of this template (or of its layout, unfilled)
)

type node struct {
	kind   nodeKind
	raw    []byte   // nodeRaw
	frag   Fragment // nodeSlot
	region *region  // nodeRegion
}

type region struct {
	name string
	file string
	line int
	def  []node // the default content
}

// source is one parsed file.
type source struct {
	name    string
	nodes   []node         // without layout: the whole file
	layout  *layoutUse     // with one: what it fills
	regions map[string]int // regions it declares, by name: line
	// commented are the regions written inside a comment, by name: line.
	commented map[string]int
	// written is every fragment element of the file with an id, in order,
	// kept whether or not the file compiles (see Slots).
	written []Fragment
}

type layoutUse struct {
	src    string // as written
	target string // the template it names in the set
	line   int
	fills  map[string]*fill
}

type fill struct {
	line  int
	nodes []node
}

type containerKind uint8

const (
	inFile   containerKind = iota
	inLayout               // <mfe-layout>: only regions to fill
	inFill                 // a region filled for the layout
	inRegion               // a region of this template, with its default
)

type container struct {
	kind  containerKind
	line  int
	name  string // of a region
	nodes []node
	bad   bool // reported: what it holds is dropped
}

func (k *container) tag() string {
	switch k.kind {
	case inLayout:
		return LayoutElement
	case inFill, inRegion:
		return RegionElement
	}
	return "file"
}

// parse reads one file into its nodes.
func parse(name string, src []byte) (*source, Errors) {
	src = bytes.TrimPrefix(src, byteOrderMark)
	c := compiler{name: name, src: src, line: 1, out: &source{name: name, regions: map[string]int{}, commented: map[string]int{}}}
	c.run()
	if l := c.out.layout; l != nil && l.src != "" {
		l.target = layoutTarget(name, l.src)
	}
	return c.out, c.errs
}

// byteOrderMark is what some editors (on Windows, most often) put at the
// start of a UTF-8 file: it is not content.
var byteOrderMark = []byte("\xef\xbb\xbf")

// layoutTarget resolves a layout's src as a link would be: relative to the
// template's folder, or from the folder's top when it starts with "/".
func layoutTarget(from, src string) string {
	if strings.HasPrefix(src, "/") {
		return strings.TrimPrefix(path.Clean(src), "/")
	}
	return strings.TrimPrefix(path.Join(path.Dir(from), src), "/")
}

// trimLines drops the line break just after a region's open tag and the
// one (with the indentation after it) just before its close tag, so that
// regions can stand on lines of their own.
func trimLines(nodes []node) []node {
	if len(nodes) == 0 {
		return nodes
	}
	out := append([]node(nil), nodes...)
	if first := &out[0]; first.kind == nodeRaw {
		b := first.raw
		i := 0
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		switch {
		case bytes.HasPrefix(b[i:], []byte("\r\n")):
			first.raw = b[i+2:]
		case bytes.HasPrefix(b[i:], []byte("\n")):
			first.raw = b[i+1:]
		}
	}
	if last := &out[len(out)-1]; last.kind == nodeRaw {
		b := bytes.TrimRight(last.raw, " \t")
		switch {
		case bytes.HasSuffix(b, []byte("\r\n")):
			last.raw = b[: len(b)-2 : len(b)-2]
		case bytes.HasSuffix(b, []byte("\n")):
			last.raw = b[: len(b)-1 : len(b)-1]
		}
	}
	kept := out[:0]
	for _, n := range out {
		if n.kind != nodeRaw || len(n.raw) > 0 {
			kept = append(kept, n)
		}
	}
	return kept
}

// resolver puts layouts in place and compiles the templates of a set.
type resolver struct {
	sources  map[string]*source
	broken   map[string]bool // files that did not parse: their errors are listed
	expanded map[string][]node
	failed   map[string]bool
	visiting []string
	errs     Errors
}

func newResolver(sources map[string]*source) *resolver {
	return &resolver{sources: sources, broken: map[string]bool{}, expanded: map[string][]node{}, failed: map[string]bool{}}
}

func (r *resolver) errorf(file string, line int, format string, args ...any) {
	r.errs = append(r.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// template compiles the template name, its layouts in place. false: it
// does not compile (its problems are in r.errs, or in its layout's own).
func (r *resolver) template(name string) (*Template, bool) {
	nodes, ok := r.expand(name)
	if !ok {
		return nil, false
	}
	return build(name, nodes), true
}

// expand returns the nodes of name with its layouts in place; the regions
// left are its own and those of its layouts it does not fill.
func (r *resolver) expand(name string) ([]node, bool) {
	if nodes, ok := r.expanded[name]; ok {
		return nodes, true
	}
	if r.failed[name] {
		return nil, false
	}
	s := r.sources[name]
	if s.layout == nil {
		r.expanded[name] = s.nodes
		return s.nodes, true
	}
	l := s.layout
	fail := func(format string, args ...any) ([]node, bool) {
		r.errorf(name, l.line, format, args...)
		r.failed[name] = true
		return nil, false
	}
	if r.broken[l.target] {
		r.failed[name] = true // the layout's own problems are reported
		return nil, false
	}
	if _, ok := r.sources[l.target]; !ok {
		return fail("layout %q not found: a layout is a template of the same folder, named as a link from this file would name it", l.src)
	}
	chain := append(append([]string(nil), r.visiting...), name)
	for i, v := range chain {
		if v == l.target {
			return fail("layout cycle: %s", strings.Join(append(chain[i:], l.target), " → "))
		}
	}
	r.visiting = append(r.visiting, name)
	base, ok := r.expand(l.target)
	r.visiting = r.visiting[:len(r.visiting)-1]
	if !ok {
		r.failed[name] = true // reported at the layout, or where the cycle closes
		return nil, false
	}
	have := map[string]*region{}
	collectRegions(base, have)
	names := make([]string, 0, len(l.fills))
	for n := range l.fills {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return l.fills[names[i]].line < l.fills[names[j]].line })
	bad := false
	for _, n := range names {
		if _, ok := have[n]; !ok {
			r.errorf(name, l.fills[n].line, "region %q: layout %s has no such region (it has %s%s)", n, l.target, regionList(have), r.commentedOut(l.target, n))
			bad = true
		}
	}
	// A region of this template's own that an unfilled region of the
	// layout would shadow.
	for n, line := range s.regions {
		if lr, ok := have[n]; ok && l.fills[n] == nil {
			r.errorf(name, line, "region %q is also a region of %s (%s:%d) that this template does not fill: fill it, or give this one another name", n, l.target, lr.file, lr.line)
			bad = true
		}
	}
	if bad {
		r.failed[name] = true
		return nil, false
	}
	out := make([]node, 0, len(base))
	for _, n := range base {
		if n.kind == nodeRegion {
			if f, ok := l.fills[n.region.name]; ok {
				out = append(out, f.nodes...)
				continue
			}
		}
		out = append(out, n)
	}
	r.expanded[name] = out
	return out, true
}

// commentedOut says where, along the layouts from layout on, a region of
// that name is written inside a comment ("" if nowhere).
func (r *resolver) commentedOut(layout, name string) string {
	seen := map[string]bool{}
	for t := layout; !seen[t]; {
		seen[t] = true
		s, ok := r.sources[t]
		if !ok {
			break
		}
		if line, ok := s.commented[name]; ok {
			return fmt.Sprintf("; %s:%d has one inside a comment", t, line)
		}
		if s.layout == nil {
			break
		}
		t = s.layout.target
	}
	return ""
}

func collectRegions(nodes []node, into map[string]*region) {
	for _, n := range nodes {
		if n.kind == nodeRegion {
			into[n.region.name] = n.region
		}
	}
}

func regionList(have map[string]*region) string {
	if len(have) == 0 {
		return "none"
	}
	names := make([]string, 0, len(have))
	for n := range have {
		names = append(names, fmt.Sprintf("%q", n))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// build cuts expanded nodes into a Template: adjacent raw bytes become one
// part (as in a file without layout), the head outlet goes before the
// first </head>, the async outlet before the last </body> that follows
// every async fragment, or at the end.
func build(name string, nodes []node) *Template {
	var flat []node
	var flatten func([]node)
	flatten = func(ns []node) {
		for _, n := range ns {
			if n.kind == nodeRegion {
				flatten(n.region.def)
				continue
			}
			flat = append(flat, n)
		}
	}
	flatten(nodes)

	t := &Template{Name: name, Scope: scopes.Add(1)}
	lastAsync, lastBodyEnd := -1, -1
	for i, n := range flat {
		switch {
		case n.kind == nodeSlot && n.frag.Async:
			lastAsync = i
		case n.kind == nodeBodyEnd:
			lastBodyEnd = i
		}
	}
	var pending [][]byte
	flush := func() {
		switch len(pending) {
		case 0:
			return
		case 1:
			t.Parts = append(t.Parts, Part{Kind: Raw, Raw: inertScripts(pending[0])})
		default:
			t.Parts = append(t.Parts, Part{Kind: Raw, Raw: inertScripts(bytes.Join(pending, nil))})
		}
		pending = pending[:0]
	}
	headDone := false
	for i, n := range flat {
		switch n.kind {
		case nodeRaw:
			pending = append(pending, n.raw)
		case nodeSlot:
			flush()
			f := n.frag
			if f.File == name {
				f.File = ""
			}
			f.Fallback = inertScripts(f.Fallback)
			if f.Async {
				t.Async++
			}
			t.Slots = append(t.Slots, f)
			t.Parts = append(t.Parts, Part{Kind: Slot, Slot: len(t.Slots) - 1})
		case nodeHeadEnd:
			if !headDone {
				headDone = true
				flush()
				t.Parts = append(t.Parts, Part{Kind: HeadOutlet})
			}
		case nodeBodyEnd:
			if lastAsync >= 0 && i == lastBodyEnd && i > lastAsync {
				flush()
				t.Parts = append(t.Parts, Part{Kind: AsyncOutlet})
			}
		}
	}
	flush()
	if lastAsync >= 0 && (lastBodyEnd < 0 || lastBodyEnd < lastAsync) {
		t.Parts = append(t.Parts, Part{Kind: AsyncOutlet})
	}
	t.IDs = ownIDs(t.Parts)
	return t
}

// ownIDs lists the ids that the raw parts give elements, read as a
// browser's tokenizer reads them (character references decoded), or nil.
// Read together: the parts between two slots are cut at tags. A <map>'s
// name is listed too: an image's usemap finds a map by its name (without
// a leading '#', as Chromium reads it) as well as by its id.
func ownIDs(parts []Part) map[string]bool {
	var raw [][]byte
	for _, p := range parts {
		if p.Kind == Raw {
			raw = append(raw, p.Raw)
		}
	}
	var ids map[string]bool
	z := html.NewTokenizer(bytes.NewReader(bytes.Join(raw, nil)))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ids
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			isMap := string(name) == "map"
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				if isMap && string(k) == "name" && len(v) > 0 && v[0] == '#' {
					v = v[1:]
				}
				if (string(k) == "id" || isMap && string(k) == "name") && len(v) > 0 {
					if ids == nil {
						ids = map[string]bool{}
					}
					ids[string(v)] = true
				}
			}
		}
	}
}

// staticPage is what an error page that uses a layout (or has regions) is
// sent as: its bytes with the layout in place, and each fragment's
// fallback (error pages are static: their fragments are not requested).
func staticPage(t *Template) []byte {
	var b bytes.Buffer
	for _, p := range t.Parts {
		switch p.Kind {
		case Raw:
			b.Write(p.Raw)
		case Slot:
			b.Write(t.Slots[p.Slot].Fallback)
		}
	}
	return b.Bytes()
}
