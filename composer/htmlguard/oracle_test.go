package htmlguard

// The oracle: whatever a fragment sends, once it has been through a guard
// and the guard has been closed, the page around the fragment's slot parses
// exactly as it does with an empty fragment. It is checked with Go's HTML5
// parser on the html5lib conformance inputs that ship with golang.org/x/net,
// at every cut point of the short ones (a cut is what the composer does at a
// fragment's deadline or size limit: the guard is closed after a prefix).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"golang.org/x/net/html"
)

// The two kinds of slot the composer writes a fragment into. The page text
// mirrors composer/stream: a synchronous slot is the fragment inside the
// template's own element (here a div); an async slot is a placeholder in
// place and, before </body>, the fragment in a <template> followed by the
// script that moves it (writePlaceholder and writeAsync in stream.go). If
// those change, change asyncPage and moverScript.
const (
	pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>page</title></head><body>` +
		`<header><a href="/">home</a></header><main><h1>title</h1>`
	// pageTail is what follows a slot: text and elements directly in body
	// (an active formatting element left open would be reconstructed
	// around them), a form (a form pointer left set would drop it), a
	// table, a list, a comment, and the page's own scripts.
	pageTail = `<p id="after">after <b>bold</b> text</p>text in main</main>` +
		`<form id="f"><input name="q"><button>go</button></form>` +
		`<table id="t"><tr><td>cell</td></tr></table><ul><li>one<li>two</ul><!-- page comment -->` +
		`<footer><p>footer</p></footer>`

	// Copied from composer/stream's moverScript (after issue 12's DOM
	// clobbering fix): it follows each async fragment's template.
	moverScript = `(function(d){var D=Document.prototype,E=Element.prototype,g=function(o,k){return Object.getOwnPropertyDescriptor(o,k).get},s=g(D,"currentScript").call(d);if(!s)return;var t=g(E,"previousElementSibling").call(s);E.remove.call(s);if(!t||g(E,"tagName").call(t)!=="TEMPLATE")return;var i=E.getAttribute.call(t,"id")||"";E.remove.call(t);if(!/^mfe-async-[0-9]+-[A-Za-z0-9_-]{11}-content$/.test(i))return;var p=D.getElementById.call(d,i.slice(0,-8));if(p&&g(E,"tagName").call(p)==="MFE-PLACEHOLDER")E.replaceWith.call(p,g(HTMLTemplateElement.prototype,"content").call(t))})(document)`
)

// pageKey stands for the random part of a page's async ids.
const pageKey = "k3yK3yk3yK3"

func divPage(fragment string) string {
	return pageHead + `<div id="slot" data-fragment="f">` + fragment + `</div>` + pageTail + `</body></html>`
}

func asyncPage(fragment string) string {
	return pageHead + `<mfe-placeholder id="mfe-async-0-` + pageKey + `" data-fragment="f"><p>loading</p></mfe-placeholder>` + pageTail +
		asyncFragment("mfe-async-0-"+pageKey, fragment) +
		asyncFragment("mfe-async-1-"+pageKey, `<p>another fragment</p>`) +
		`</body></html>`
}

// asyncFragment is what writeAsync writes for a finished async fragment.
func asyncFragment(id, body string) string {
	return `<template id="` + id + `-content">` + body + `</template><script>` + moverScript + `</script>`
}

type pageKind struct {
	name string
	page func(string) string
	// container finds the node whose children are the fragment's subtree.
	container func(*html.Node) *html.Node
}

var pageKinds = []pageKind{
	{"div", divPage, func(n *html.Node) *html.Node { return findByID(n, "div", "slot") }},
	{"async", asyncPage, func(n *html.Node) *html.Node { return findByID(n, "template", "mfe-async-0-"+pageKey+"-content") }},
}

// findByID returns the first element named name with the given id, in
// document order.
func findByID(n *html.Node, name, id string) *html.Node {
	if n.Type == html.ElementNode && n.Data == name && n.Namespace == "" {
		for _, a := range n.Attr {
			if a.Namespace == "" && a.Key == "id" && a.Val == id {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findByID(c, name, id); f != nil {
			return f
		}
	}
	return nil
}

// parseWithout parses page and removes the children of its fragment's
// container.
func parseWithout(kind pageKind, page string) (*html.Node, error) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return nil, err
	}
	c := kind.container(doc)
	if c == nil {
		return nil, fmt.Errorf("no %s container in the page", kind.name)
	}
	if err := shadowOnPage(c); err != nil {
		return nil, err
	}
	for c.FirstChild != nil {
		c.RemoveChild(c.FirstChild)
	}
	return doc, nil
}

// shadowOnPage reports a template, among the children of the fragment's
// container c, that would attach a declarative shadow root to c, the
// page's element. Go's parser does not implement declarative shadow roots
// (a browser would replace what c renders with the template's content),
// so the oracle looks for their attributes.
func shadowOnPage(c *html.Node) error {
	for n := c.FirstChild; n != nil; n = n.NextSibling {
		if n.Type != html.ElementNode || n.Data != "template" || n.Namespace != "" {
			continue
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "shadowroot") {
				return fmt.Errorf("a template with %s=%q would attach a shadow root to the page's element", a.Key, a.Val)
			}
		}
	}
	return nil
}

// reservedLeft reports an element of the guarded fragment out (parsed in
// a div slot) that takes one of the page's ids, or an id reference of it
// that names one.
func reservedLeft(out string, ids map[string]bool) error {
	doc, err := html.Parse(strings.NewReader(divPage(out)))
	if err != nil {
		return err
	}
	var walk func(n *html.Node) error
	walk = func(n *html.Node) error {
		for _, a := range n.Attr {
			key := a.Key
			if a.Namespace != "" {
				key = a.Namespace + ":" + key
			}
			_, afterHash, hash := strings.Cut(a.Val, "#")
			switch k := attrKind([]byte(key)); {
			case k == aID && ids[a.Val],
				k == aHashRef && hash && ids[afterHash],
				k == aName && n.Data == "map" && ids[strings.TrimPrefix(a.Val, "#")]:
				return fmt.Errorf("<%s %s=%q> is left", n.Data, a.Key, a.Val)
			case k == aHref && n.Data == "a" && n.Namespace == "svg":
				if v := strings.Trim(a.Val, " \t\n\r\f"); strings.HasPrefix(v, "#") && ids[v[1:]] {
					return fmt.Errorf("<svg:a %s=%q> is left", a.Key, a.Val)
				}
			case k == aHref && svgAnimation(strings.ToLower(n.Data)) && hash:
				// As a URL of the page (whatever comes before the '#'):
				// tabs and newlines removed, the fragment percent-decoded.
				f := strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(afterHash)
				f = strings.TrimRightFunc(f, func(r rune) bool { return r <= ' ' })
				if d, err := url.PathUnescape(f); err == nil {
					f = d
				}
				if ids[f] {
					return fmt.Errorf("<%s %s=%q> is left", n.Data, a.Key, a.Val)
				}
			case k == aRef:
				for _, f := range append(strings.Fields(a.Val), a.Val) {
					if ids[f] {
						return fmt.Errorf("<%s %s=%q> is left", n.Data, a.Key, a.Val)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	slot := findByID(doc, "div", "slot")
	for c := slot.FirstChild; c != nil; c = c.NextSibling {
		if err := walk(c); err != nil {
			return err
		}
	}
	return nil
}

func render(n *html.Node) string {
	var b strings.Builder
	if err := html.Render(&b, n); err != nil {
		return err.Error()
	}
	return b.String()
}

// sameTree reports whether two trees are equal: node types, names,
// namespaces, data and attributes.
func sameTree(a, b *html.Node) bool {
	if a.Type != b.Type || a.Data != b.Data || a.Namespace != b.Namespace || len(a.Attr) != len(b.Attr) {
		return false
	}
	for i := range a.Attr {
		if a.Attr[i] != b.Attr[i] {
			return false
		}
	}
	ca, cb := a.FirstChild, b.FirstChild
	for ; ca != nil && cb != nil; ca, cb = ca.NextSibling, cb.NextSibling {
		if !sameTree(ca, cb) {
			return false
		}
	}
	return ca == nil && cb == nil
}

var emptyPages = sync.OnceValue(func() map[string]*html.Node {
	m := map[string]*html.Node{}
	for _, k := range pageKinds {
		doc, err := parseWithout(k, k.page(""))
		if err != nil {
			panic(err)
		}
		m[k.name] = doc
	}
	return m
})

// checkHolds reports how the guarded fragment out breaks the page, if it
// does.
func checkHolds(out string) error {
	for _, k := range pageKinds {
		got, err := parseWithout(k, k.page(out))
		if err != nil {
			return fmt.Errorf("%s slot: %v", k.name, err)
		}
		if want := emptyPages()[k.name]; !sameTree(got, want) {
			return fmt.Errorf("%s slot: the page changed:\n%s", k.name, firstDiff(render(got), render(want)))
		}
	}
	return nil
}

// firstDiff shows where two renderings part.
func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Sprintf("got  …%q\nwant …%q", clip(got[from:], 160), clip(want[from:], 160))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// cutPoints lists where to cut src: every byte up to 256, else a sample of
// 48 spread over it plus the bytes around each '<' and '>' in the sample's
// neighbourhood, always with the whole input.
func cutPoints(src string) []int {
	n := len(src)
	if n <= 256 {
		cuts := make([]int, n+1)
		for i := range cuts {
			cuts[i] = i
		}
		return cuts
	}
	h := fnv.New64a()
	h.Write([]byte(src))
	seed := h.Sum64()
	set := map[int]bool{n: true, 0: true}
	for i := range 48 {
		seed = seed*6364136223846793005 + 1442695040888963407
		c := int(seed>>33) % n
		if i < 16 {
			c = n * i / 16
		}
		set[c] = true
		if j := strings.IndexAny(src[c:], "<>"); j >= 0 {
			set[c+j] = true
			set[min(n, c+j+1)] = true
		}
	}
	cuts := make([]int, 0, len(set))
	for c := range set {
		cuts = append(cuts, c)
	}
	sort.Ints(cuts)
	return cuts
}

// corpusInput is one input with where it came from.
type corpusInput struct {
	src, from string
}

// html5libInputs returns the inputs of the html5lib tree-construction and
// tokenizer tests shipped with golang.org/x/net, each once.
func html5libInputs(t testing.TB) []corpusInput {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/net").Output()
	if err != nil {
		t.Fatalf("locating golang.org/x/net: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "html", "testdata", "html5lib-tests")
	seen := map[string]bool{}
	var inputs []corpusInput
	add := func(src, from string) {
		if !seen[src] {
			seen[src] = true
			inputs = append(inputs, corpusInput{src, from})
		}
	}
	dats, _ := filepath.Glob(filepath.Join(dir, "tree-construction", "*.dat"))
	tests, _ := filepath.Glob(filepath.Join(dir, "tokenizer", "*.test"))
	if len(dats) == 0 || len(tests) == 0 {
		t.Fatalf("no html5lib tests under %s", dir)
	}
	for _, f := range dats {
		srcs, err := readDat(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range srcs {
			add(s, filepath.Base(f)+"#"+strconv.Itoa(i))
		}
	}
	for _, f := range tests {
		srcs, err := readTokenizerTest(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range srcs {
			add(s, filepath.Base(f)+"#"+strconv.Itoa(i))
		}
	}
	return inputs
}

// readDat returns the #data sections of a tree-construction test file.
func readDat(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var srcs []string
	var cur []string
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "#data":
			in, cur = true, cur[:0]
		case in && strings.HasPrefix(line, "#"):
			in = false
			srcs = append(srcs, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return srcs, sc.Err()
}

// readTokenizerTest returns the inputs of a tokenizer test file.
func readTokenizerTest(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file map[string][]struct {
		Input         string `json:"input"`
		DoubleEscaped bool   `json:"doubleEscaped"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var srcs []string
	for _, tests := range file {
		for _, tc := range tests {
			s := tc.Input
			if tc.DoubleEscaped {
				s = unescapeU(s)
			}
			srcs = append(srcs, s)
		}
	}
	sort.Strings(srcs)
	return srcs, nil
}

// unescapeU decodes the \uXXXX escapes of a doubleEscaped tokenizer test.
func unescapeU(s string) string {
	var units []uint16
	var b strings.Builder
	flush := func() {
		b.WriteString(string(utf16.Decode(units)))
		units = units[:0]
	}
	for i := 0; i < len(s); {
		if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
			if v, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				units = append(units, uint16(v))
				i += 6
				continue
			}
		}
		flush()
		b.WriteByte(s[i])
		i++
	}
	flush()
	return b.String()
}

// namedInputs are the fragments the issue names, and their relatives.
func namedInputs() []corpusInput {
	long := strings.Repeat("x", 9<<10)
	var in []corpusInput
	for _, s := range []string{
		`<!--><textarea>`,
		`<!--->x<textarea>`,
		`<!-- x --!><textarea>`,
		`<!-- x --!> y <textarea>`,
		`<script><!--<script>`,
		`<script><!--<script></script>x</script><textarea>`,
		`<script><!--<script></script>`,
		`<svg><style>`,
		`<svg><style><textarea>`,
		`<math><style>`,
		`<math><style><textarea>`,
		`<svg><title><textarea>`,
		`<svg><![CDATA[</svg><textarea>]]>`,
		`<div><a title="` + long + `">x</a><textarea>`,
		`<div><a title="` + long,
		`<p class='` + long,
		`<script>x</script title="` + long + `">after<textarea>`,
		`<textarea>x</textarea a='` + long,
		`<svg><path d="` + long + `"/><textarea>`,
		`<b>x`,
		`<b><p></b>x`,
		`<a><p><a>x`,
		`<form><div></form><textarea>`,
		`<table><tr><td>x`,
		`<table><div>x<td>y`,
		`<select><option>a<textarea>`,
		`<template><tr><td>x`,
		`<template><td>a<tr>b<div><td>c`,
		`<template><caption>x<tr><td>y</template><b>`,
		`<template><col><div>x`,
		`<template><tr><div><td><table><td>`,
		`<table><template><tr></template><td>x`,
		`<body onload=x><html lang=xx>`,
		`<frameset><frame>`,
		`<plaintext>x`,
		`<image src=x>`,
		// Found by TestGuardRandomSoup and FuzzGuard.
		`<<td>A`,
		`<</g>!-- x`,
		`<link><</g>x<noembed>`,
		`<script><!--<<script></script><s/`,
		`<script><!--a <= b; document.write("<script></script>")--></script><p>`,
		`<svg><colgroup><foreignObject><table>`,
		`<math><colgroup><mi/1><table>`,
		`<svg><desc><template></template></desc></svg>`,
		`<math><mi><template>x`,
		// Issue 25: declarative shadow roots on the page's element.
		`<header>Shop</header><template shadowrootmode="open"><h1>Your basket</h1><a href=https://evil.example/pay>Pay here</a></template>`,
		`<div></div><template shadowrootmode=closed shadowrootdelegatesfocus shadowrootclonable shadowrootserializable>x`,
		`<my-podlet><template shadowrootmode="open"><p>x</p></template></my-podlet><template shadowroot=open>`,
		`<table><tr><td>x</table><TEMPLATE SHADOWROOTMODE=open>`,
		// References in the forms the browser reads as the page's
		// element (issue 25, item 5, the outside attack's D1 and D2).
		`<svg><set href=" #x" attributeName=href to=y /><set href="/p#x"/><discard xlink:href="#%78"/><a href="#x"><rect/></a></svg><img usemap="p#x"><map name="#x"><area shape=default href=/></map>`,
		// A quoted value followed by the next attribute with no space
		// (a="v"b is a and b): a dropped attribute there glued the next to
		// the tag's name (the outside attack on issue 25's guard).
		`<s form="x"cript>x</script><p>`,
		`<p form="x"laintext>x`,
		`<b form=""ody onload=x>`,
		`<t form=""emplate shadowrootmode=open>x`,
		`<x a="1"form='y'b c='d'e>x`,
		`<s/form="x"/cript>x`,
		`<textare form=f a="1"form="y"a><b>`,
		`<tabl formaction=""e><tr><td>x`,
	} {
		in = append(in, corpusInput{s, "named"})
	}
	return in
}

// TestGuardOracle puts every input through the guard, at every cut point
// of short inputs and a sample of long ones, into both kinds of slot.
func TestGuardOracle(t *testing.T) {
	t.Parallel()
	inputs := append(namedInputs(), html5libInputs(t)...)
	const shards = 16
	var mu sync.Mutex
	var failed, checked, cuts int
	t.Cleanup(func() {
		t.Logf("%d inputs, %d cut points, %d distinct outputs parsed in both slots, %d failed", len(inputs), cuts, checked, failed)
	})
	for s := range shards {
		t.Run(fmt.Sprintf("shard%d", s), func(t *testing.T) {
			t.Parallel()
			nf, nc, np, shown := 0, 0, 0, 0
			for i := s; i < len(inputs); i += shards {
				in := inputs[i]
				seen := map[string]bool{} // cuts inside a tag give the same output
				for _, c := range cutPoints(in.src) {
					nc++
					out := guarded(in.src[:c], 0)
					if seen[out] {
						continue
					}
					seen[out] = true
					np++
					if err := checkHolds(out); err != nil {
						nf++
						if shown < 3 {
							shown++
							t.Errorf("%s: input %q cut at %d, guarded %q: %v", in.from, clip(in.src, 300), c, clip(out, 300), err)
						}
					}
				}
			}
			mu.Lock()
			failed += nf
			checked += np
			cuts += nc
			mu.Unlock()
		})
	}
}

// TestGuardChunking: how a fragment is split into chunks changes nothing
// in what comes out.
func TestGuardChunking(t *testing.T) {
	t.Parallel()
	inputs := append(namedInputs(), html5libInputs(t)...)
	for _, in := range inputs {
		whole := guarded(in.src, 0)
		for _, n := range []int{1, 2, 5, 64} {
			if got := guarded(in.src, n); got != whole {
				t.Errorf("%s: input %q in chunks of %d:\n got %q\nwant %q", in.from, clip(in.src, 200), n, clip(got, 300), clip(whole, 300))
				break
			}
		}
	}
}
