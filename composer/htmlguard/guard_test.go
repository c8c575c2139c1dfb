package htmlguard

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// guarded runs src through a guard in chunks of size n (0: whole).
func guarded(src string, n int) string { return guardedReserving(nil, src, n) }

// guardedReserving runs src through a guard that reserves the ids of the
// page, in chunks of size n (0: whole).
func guardedReserving(ids map[string]bool, src string, n int) string {
	return guardedBy(Guard{Reserved: ids}, src, n)
}

func TestGuard(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain text and balanced markup pass", `<div class="a"><p>hi<br>there</p><img src=x alt="a>b"></div>`, `<div class="a"><p>hi<br>there</p><img src=x alt="a>b"></div>`},
		{"unclosed elements are closed", `<section><div><span>x`, `<section><div><span>x</span></div></section>`},
		{"stray end tags are dropped", `x</div></main>y`, `xy`},
		{"implied end tags are written", `<ul><li>a<li>b</ul><p>c`, `<ul><li>a</li><li>b</li></ul><p>c</p>`},
		{"unterminated comment", `a<!-- never closed <div>`, `a<!-- never closed <div>-->`},
		{"unterminated script", `<script>if (a < b) { x = "</div>"`, `<script>if (a < b) { x = "</div>"</script>`},
		{"script end tag split and cased", `<script>1</SCRIPT >2`, `<script>1</SCRIPT >2`},
		{"not the end tag", `<style>a</styles>b</style>c`, `<style>a</styles>b</style>c`},
		{"cut-off tag is dropped", `a<div class="x`, `a`},
		{"document tags are dropped", `<html><body>x</body></html>`, `x`},
		{"plaintext is dropped", `<plaintext>x`, `x`},
		{"invalid UTF-8", "a\xffb\xe6\xe5x\xc3", "a\uFFFDb\uFFFD\uFFFDx\uFFFD"},
		{"lone less-than is text, written &lt;", `a < b <3`, `a &lt; b &lt;3`},
		{"self-closing svg leaves", `<svg><path d="M0"/><circle r=1 /></svg>`, `<svg><path d="M0"/><circle r=1 /></svg>`},
		{"quoted greater-than in attribute", `<a title='>'>x</a>`, `<a title='>'>x</a>`},
		{"doctype is dropped, bogus comments pass", `<!doctype html><?xml x?>`, `<?xml x?>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, n := range []int{0, 1, 2, 3, 7} {
				if got := guarded(tt.in, n); got != tt.want {
					t.Errorf("chunks of %d:\n got %q\nwant %q", n, got, tt.want)
				}
			}
		})
	}
}

func TestGuardKeepsPageStructure(t *testing.T) {
	t.Parallel()
	for _, frag := range []string{
		`<div><div><table><tr><td>x`, `</div></div></body>`, `<!--`, `<script>`, `<textarea>`, `<title>`,
		`<style>`, `<a href="x`, `<b><i><u>x`, `<select><option>a`, `<svg><g>`, `<template><div>`,
		`<noscript>`, `<iframe>`, "\xff\xfe<", `<form><input name=a>`, `<ul><li>`, `<table><caption>x`,
		`<math><mi>x`, `<object><param>`, `<button>x`, `<dl><dt>a<dd>b`,
	} {
		// Unguarded, most of these swallow or re-nest what follows.
		if err := checkHolds(guarded(frag, 3)); err != nil {
			t.Errorf("fragment %q: %v", frag, err)
		}
	}
}

// TestGuardIssueInputs: the fragment bodies issue 12 names, at every cut
// point and in chunks of every size up to 8.
func TestGuardIssueInputs(t *testing.T) {
	t.Parallel()
	for _, in := range namedInputs() {
		for _, c := range cutPoints(in.src) {
			whole := guarded(in.src[:c], 0)
			if err := checkHolds(whole); err != nil {
				t.Errorf("input %q cut at %d, guarded %q: %v", clip(in.src, 80), c, clip(whole, 200), err)
				break
			}
			if len(in.src) > 256 {
				continue
			}
			for n := 1; n <= 8; n++ {
				if got := guarded(in.src[:c], n); got != whole {
					t.Errorf("input %q cut at %d in chunks of %d: %q, whole %q", in.src, c, n, got, whole)
				}
			}
		}
	}
}

// TestGuardPassesWellFormed: ordinary fragment markup passes unchanged
// (the demo fragments, and markup with what fragments commonly carry).
func TestGuardPassesWellFormed(t *testing.T) {
	t.Parallel()
	srcs := map[string]string{
		"realistic": `<section class="reviews" aria-labelledby="h"><h2 id="h">Reviews</h2>
<!--[--><!-- react-text: 1 -->4.5<!-- /react-text --><!--]-->
<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><use href="#star"/><path d="M0 0h24v24H0z" fill="none"/><title>star</title></svg>
<math><mi>x</mi><mo>=</mo><mn>2</mn></math>
<table class="facts"><caption>Facts</caption><thead><tr><th scope="col">k</th><th>v</th></tr></thead>
<tbody><tr><td>Pages</td><td>320</td></tr><tr><td colspan=2><a href="/x?a=1&amp;b=2">more</a></td></tr></tbody></table>
<form action="/api/reviews" method="post"><label for="r">Review</label><textarea id="r" name="r"></textarea>
<select name="stars"><option value="5" selected>5</option><optgroup label="low"><option>1</option></optgroup></select>
<input type="hidden" name="csrf" value="a&quot;b"><button type="submit">Send</button></form>
<ul><li><b>bold</b> and <i>italic</i></li><li><img src="/a.png" alt="a > b" loading=lazy></li></ul>
<details><summary>More</summary><p>Hidden <code>&lt;b&gt;</code> text.</p></details>
<picture><source srcset="/a.webp" type="image/webp"><img src="/a.jpg" alt=""></picture>
<template id="row"><tr><td></td></tr></template>
<my-widget data-x='{"a":"</div>"}'><span slot="s">x</span></my-widget>
<script type="application/json" id="state">{"html":"<\/script><!--x"}</script>
<script>if (a < b && c > d) { document.querySelector("#h").textContent = "</p>"; }</script>
<style>.reviews > h2::after { content: "</style"; }</style>
<noscript><img src="/pixel.gif" alt=""></noscript>
</section>
`,
	}
	files, _ := filepath.Glob("../../fragments/html/*.html")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs[filepath.Base(f)] = string(b)
	}
	if len(files) == 0 {
		t.Error("no demo fragments under fragments/html")
	}
	for name, src := range srcs {
		for _, n := range []int{0, 1, 7, 100} {
			if got := guarded(src, n); got != src {
				t.Errorf("%s in chunks of %d changed:\n%s", name, n, firstDiff(got, src))
			}
		}
		if err := checkHolds(src); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestGuardStreams: text goes out with the chunk it came in; what is held
// back (a tag until its '>') is bounded.
func TestGuardStreams(t *testing.T) {
	t.Parallel()
	var g Guard
	var out bytes.Buffer
	emit := func(b []byte) { out.Write(b) }
	for _, step := range []struct{ in, want string }{
		{`<div class="a">hello <b`, `<div class="a">hello `},
		{`>bold</b> <scr`, `<b>bold</b> `},
		{`ipt>let a = "`, `<script>let a = "`},
		{strings.Repeat("x", 100), strings.Repeat("x", 100)},
		{`";</script><!-- a comment`, `";</script><!-- a comment`},
		{` goes on`, ` goes on`},
		{` -->text`, ` -->text`},
	} {
		out.Reset()
		g.Write([]byte(step.in), emit)
		if out.String() != step.want {
			t.Fatalf("after %q: passed %q, want %q", step.in, out.String(), step.want)
		}
	}
	out.Reset()
	g.Close(emit)
	if out.String() != "</div>" {
		t.Errorf("close: %q, want </div>", out.String())
	}

	// An attribute value that never ends: held up to MaxTag, then dropped.
	out.Reset()
	g.Write([]byte(`<p>x<a title="`), emit)
	chunk := []byte(strings.Repeat("v", 4096))
	for range 100 {
		g.Write(chunk, emit)
		if len(g.held) > MaxTag {
			t.Fatalf("holding %d bytes", len(g.held))
		}
	}
	g.Close(emit)
	if out.String() != "<p>x</p>" {
		t.Errorf("cut inside a long tag: %q, want <p>x</p>", out.String())
	}
}

// FuzzGuard: chunking does not change the output, and the output, whole
// or cut, keeps the page around it (the oracle of TestGuardOracle).
func FuzzGuard(f *testing.F) {
	for _, s := range []string{"<div><p>x", "<script>a</scr", "<!-- x", "</div></body>", "<table><tr><td>", "<a b='>'>"} {
		f.Add(s, 3)
	}
	for i, in := range append(namedInputs(), html5libInputs(f)...) {
		if strings.HasSuffix(in.from, ".dat") || strings.Contains(in.from, ".dat#") || in.from == "named" {
			f.Add(in.src, i%17-3)
		}
	}
	f.Fuzz(func(t *testing.T, frag string, n int) {
		chunk := 1
		if n > 0 {
			chunk = n%64 + 1
		}
		whole := guarded(frag, 0)
		if chunked := guarded(frag, chunk); chunked != whole {
			t.Fatalf("chunking changes the output:\nwhole   %q\nchunked %q", whole, chunked)
		}
		if err := checkHolds(whole); err != nil {
			t.Fatalf("fragment %q (guarded %q) breaks the page: %v", frag, whole, err)
		}
		cut := frag[:(n%(len(frag)+1)+len(frag)+1)%(len(frag)+1)]
		if out := guarded(cut, chunk); checkHolds(out) != nil {
			t.Fatalf("fragment %q cut to %q (guarded %q) breaks the page: %v", frag, cut, out, checkHolds(out))
		}
		// With the page's ids reserved, the page still holds, and none of
		// them is taken or named.
		reserving := guardedReserving(soupIDs, frag, 0)
		if chunked := guardedReserving(soupIDs, frag, chunk); chunked != reserving {
			t.Fatalf("reserving ids, chunking changes the output:\nwhole   %q\nchunked %q", reserving, chunked)
		}
		if err := checkHolds(reserving); err != nil {
			t.Fatalf("fragment %q (guarded reserving ids %q) breaks the page: %v", frag, reserving, err)
		}
		if err := reservedLeft(reserving, soupIDs); err != nil {
			t.Fatalf("fragment %q (guarded reserving ids %q): %v", frag, reserving, err)
		}
		// With scripts made inert and none vouched for, no script of it
		// is left to run, in either kind of slot; trusted, the page holds.
		inertOut := guardedWith(&Scripts{}, frag, 0)
		if chunked := guardedWith(&Scripts{}, frag, chunk); chunked != inertOut {
			t.Fatalf("with scripts, chunking changes the output:\nwhole   %q\nchunked %q", inertOut, chunked)
		}
		for _, k := range pageKinds {
			doc, err := html.Parse(strings.NewReader(k.page(inertOut)))
			if err != nil {
				t.Fatal(err)
			}
			if live, act := liveScripts(doc); len(live) > 0 || act > 0 {
				t.Fatalf("fragment %q (guarded %q), %s slot: scripts left to run %q, %d activators", frag, inertOut, k.name, live, act)
			}
		}
		if trusted := guardedWith(&Scripts{Trust: true}, frag, chunk); checkHoldsScripts(trusted) != nil {
			t.Fatalf("fragment %q (trusted %q) breaks the page: %v", frag, trusted, checkHoldsScripts(trusted))
		}
		// A whole piece remembered as passed (WriteWhole, one Passed for
		// every input and rule) gives what Write and Close give.
		for _, r := range passedRules {
			ref := guardedBy(Guard{Reserved: r.reserved, Scripts: r.scripts}, frag, 0)
			g := Guard{Reserved: r.reserved, Scripts: r.scripts, Passed: fuzzPassed, Scope: r.scope}
			if first, _ := writeWhole(&g, frag); first != ref {
				t.Fatalf("fragment %q, %s: WriteWhole %q, Write and Close %q", frag, r.name, first, ref)
			}
			if again, _ := writeWhole(&g, frag); again != ref {
				t.Fatalf("fragment %q, %s: WriteWhole again %q, Write and Close %q", frag, r.name, again, ref)
			}
		}
	})
}

// fuzzPassed is shared by every input of a fuzzing process: what one
// input leaves in it must not change another's output.
var fuzzPassed = NewPassed(1 << 12)

// benchFragment is a fragment as the benchmarks see it.
var benchFragment = []byte(strings.Repeat(`<div class="row"><p>Some <b>text</b> of a fragment, &amp; more.</p><img src="/x.png" alt="x"></div>`+"\n", 100))

func BenchmarkGuard(b *testing.B) {
	src := benchFragment
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	emit := func([]byte) {}
	for b.Loop() {
		var g Guard
		g.Write(src, emit)
		g.Close(emit)
	}
}

// BenchmarkGuardReserved is BenchmarkGuard for a page that reserves
// twenty ids: what reading every tag's attributes costs.
func BenchmarkGuardReserved(b *testing.B) {
	src := benchFragment
	ids := map[string]bool{}
	for i := range 20 {
		ids["page-"+strconv.Itoa(i)] = true
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	emit := func([]byte) {}
	for b.Loop() {
		g := Guard{Reserved: ids}
		g.Write(src, emit)
		g.Close(emit)
	}
}

// A <meta> that acts on the whole document (http-equiv: refresh navigates
// the page, content-security-policy, set-cookie, default-style; charset;
// name=referrer, viewport, theme-color, ...) is dropped, as <base> is; a
// microdata <meta itemprop> stays. Issue 12, finding F2.
func TestGuardDropsMetaThatActsOnThePage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`a<meta http-equiv="refresh" content="0;url=https://evil.example/">b`, `ab`},
		{`a<META HTTP-EQUIV=Refresh CONTENT="0; URL=//evil.example">b`, `ab`},
		{`<meta http-equiv=content-security-policy content="script-src 'none'">`, ``},
		{`<meta http-equiv="Set-Cookie" content="a=b">`, ``},
		{`<meta http-equiv=default-style content=x>`, ``},
		{`<meta http-equiv=x-ua-compatible content=IE=edge>`, ``},
		{`<meta charset=iso-8859-1>`, ``},
		{`<meta name=referrer content=unsafe-url>`, ``},
		{`<meta name=viewport content="width=10">`, ``},
		{`<meta content="0;url=/x" http-equiv = refresh />`, ``},
		{`<div><svg><meta http-equiv=refresh content=0></svg></div>`, `<div><svg></svg></div>`},
		{`<template><meta http-equiv=refresh content=0></template>`, `<template></template>`},
		{`<meta itemprop="price" content="9">`, `<meta itemprop="price" content="9">`},
		{`<div itemscope><meta itemprop=name content=x></div>`, `<div itemscope><meta itemprop=name content=x></div>`},
	} {
		for _, n := range []int{0, 1, 5} {
			if got := guarded(tt.in, n); got != tt.want {
				t.Errorf("%q in chunks of %d: got %q, want %q", tt.in, n, got, tt.want)
			}
		}
	}
}

// A fragment nested deeper than MaxDepth keeps its text but not the start
// tags beyond it, and MaxDepth leaves room for the page's own nesting:
// 600 nested divs in a slot 200 elements deep still parse (Go's parser
// refuses a document whose stack of open elements exceeds 512, and a
// browser flattens it). Issue 12, finding F6.
func TestGuardDepthLeavesRoomForThePage(t *testing.T) {
	t.Parallel()
	frag := strings.Repeat("<div>", 600) + "deep" + strings.Repeat("</div>", 600)
	out := guarded(frag, 0)
	if n := strings.Count(out, "<div>"); n > 256 || n != strings.Count(out, "</div>") || !strings.Contains(out, "deep") {
		t.Errorf("%d divs opened, %d closed (want at most 256, balanced, with the text)", n, strings.Count(out, "</div>"))
	}
	const pageDepth = 200
	page := "<!doctype html><html><head><title>t</title></head><body>" + strings.Repeat("<div>", pageDepth) +
		out + `<p id="after">after</p>` + strings.Repeat("</div>", pageDepth) + "</body></html>"
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("the page with the fragment does not parse: %v", err)
	}
	if findByID(doc, "p", "after") == nil {
		t.Error("the page's element after the slot is gone")
	}
}

// A fragment's control cannot join a form of the page (form=pageform), nor
// submit one elsewhere (formaction, formmethod, ...): those attributes are
// dropped from every start tag, however they are spelt. Issue 12, F7.
func TestGuardDropsFormOwnerAttributes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`<input form=pageform name=x>`, `<input name=x>`},
		{`<input name=x form="pageform">`, `<input name=x>`},
		{`<INPUT FORM='pageform' NAME=x/>`, `<INPUT NAME=x/>`},
		{`<button form=pageform formaction="https://evil.example/" formmethod=post formenctype=text/plain formtarget=_top formnovalidate>go</button>`, `<button>go</button>`},
		{`<select form=f><option>a</select><textarea form = "f">t</textarea>`, `<select><option>a</option></select><textarea>t</textarea>`},
		{`<fieldset form=f><output form=f></output><object form=f></object></fieldset>`, `<fieldset><output></output><object></object></fieldset>`},
		{`<input a="x"form=f b>`, `<input a="x" b>`},
		{`<input a/form=f>`, `<input a>`},
		{`<input form=f/>`, `<input>`},
		{`<input a=b form="f"/>`, `<input a=b />`},
		{`<input type=submit formAction=//evil.example>`, `<input type=submit>`},
		{`<my-control form=pageform></my-control>`, `<my-control></my-control>`},
		// Not the attributes: kept as they are.
		{`<input name=form value="form=x" data-form=y formula=1>`, `<input name=form value="form=x" data-form=y formula=1>`},
		{`<form action=/own method=post><input name=q></form>`, `<form action=/own method=post><input name=q></form>`},
		{`<svg><rect transform="rotate(8)"/></svg>`, `<svg><rect transform="rotate(8)"/></svg>`},
	} {
		for _, n := range []int{0, 1, 3, 7} {
			if got := guarded(tt.in, n); got != tt.want {
				t.Errorf("%q in chunks of %d: got %q, want %q", tt.in, n, got, tt.want)
			}
		}
	}
}

// A fragment attaches a declarative shadow root only to an element it
// opened itself: on a <template> whose parent would be the page's element
// (nothing the fragment opened is open around it), every shadowroot*
// attribute is dropped and the template stays inert. Otherwise Chromium
// attaches the shadow root to the slot's parent (the page's <body> or
// <main>), and the page's own content is no longer rendered. Issue 25,
// item 1.
func TestGuardShadowRootsOnlyOnItsOwnElements(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		// At the fragment's top level: the page's element would be the host.
		{`<header>h</header><template shadowrootmode="open"><h1>Your basket</h1><a href=https://evil.example/pay>Pay here</a></template>`,
			`<header>h</header><template><h1>Your basket</h1><a href=https://evil.example/pay>Pay here</a></template>`},
		{`<template shadowrootmode=closed shadowrootdelegatesfocus shadowrootclonable shadowrootserializable>x</template>`, `<template>x</template>`},
		{`<TEMPLATE ShadowRootMode='open' class=a>x</TEMPLATE>`, `<TEMPLATE class=a>x</TEMPLATE>`},
		{`<template shadowroot=open>x</template>`, `<template>x</template>`},
		{`<template shadowrootreferencetarget=x shadowrootcustomelementregistry shadowrootmode=open>x</template>`, `<template>x</template>`},
		{`<template a="1"shadowrootmode=open/>x`, `<template a="1">x</template>`},
		{`<template shadowrootmode=open>`, `<template></template>`},
		// After the fragment's own elements have closed (or were never
		// open: a stray end tag is dropped).
		{`<div>a</div><template shadowrootmode=open>x</template>`, `<div>a</div><template>x</template>`},
		{`</div></main><template shadowrootmode=open>x</template>`, `<template>x</template>`},
		{`<my-podlet></my-podlet><template shadowrootmode=open>x</template>`, `<my-podlet></my-podlet><template>x</template>`},
		{`<table><tr><td>x</table><template shadowrootmode=open>y</template>`, `<table><tr><td>x</td></tr></tbody></table><template>y</template>`},
		{`<svg></svg><template shadowrootmode=open>y</template>`, `<svg></svg><template>y</template>`},
		// Inside an element the fragment opened itself: its own business
		// (Podium's useShadowDOM wraps its content in its own element).
		{`<my-podlet><template shadowrootmode="open"><style>p{}</style><p>x</p></template></my-podlet>`,
			`<my-podlet><template shadowrootmode="open"><style>p{}</style><p>x</p></template></my-podlet>`},
		{`<div><template shadowrootmode=open shadowrootdelegatesfocus>x</template></div>`, `<div><template shadowrootmode=open shadowrootdelegatesfocus>x</template></div>`},
		{`<my-podlet><template shadowrootmode=open><div><template shadowrootmode=closed>y</template></div></template></my-podlet>`,
			`<my-podlet><template shadowrootmode=open><div><template shadowrootmode=closed>y</template></div></template></my-podlet>`},
		{`<template><template shadowrootmode=open>y</template></template>`, `<template><template shadowrootmode=open>y</template></template>`},
		{`<table><template shadowrootmode=open>y</template></table>`, `<table><template shadowrootmode=open>y</template></table>`},
		{`<p>a<div><template shadowrootmode=open>y</template></div>`, `<p>a</p><div><template shadowrootmode=open>y</template></div>`},
		// Not a template: the attribute does nothing there.
		{`<div shadowrootmode=open>x</div>`, `<div shadowrootmode=open>x</div>`},
	} {
		for _, n := range []int{0, 1, 3, 7} {
			if got := guarded(tt.in, n); got != tt.want {
				t.Errorf("%q in chunks of %d:\n got %q\nwant %q", tt.in, n, got, tt.want)
			}
		}
	}
}

// A fragment's element cannot take an id of the page's, nor point at one:
// an id attribute equal to a reserved id is dropped, and a reserved id is
// taken out of the attributes that refer to elements by id (the attribute
// dropped when nothing is left of it). Ids of the fragment's own, and ids
// the page does not use, stay. Issue 25, item 5.
func TestGuardReservedIDs(t *testing.T) {
	t.Parallel()
	page := map[string]bool{"checkout": true, "menu": true, "confirm": true, "terms": true, "a&b": true, "Main": true, "two words": true}
	for _, tt := range []struct{ in, want string }{
		// The fragment's element may not take one.
		{`<form id="checkout" action=/evil><button>go</button></form>`, `<form action=/evil><button>go</button></form>`},
		{`<div ID=checkout class=x>y</div>`, `<div class=x>y</div>`},
		{`<div class=x id='menu'/>y`, `<div class=x />y</div>`},
		{`<div id=&#99;heckout>y</div>`, `<div>y</div>`},
		{`<div id="a&amp;b">y</div><div id="a&b">z</div>`, `<div>y</div><div>z</div>`},
		{`<div id="two words">y</div>`, `<div>y</div>`},
		{`<svg><g id=menu></g></svg>`, `<svg><g></g></svg>`},
		// Nor point at one.
		{`<label for="terms">I agree</label>`, `<label>I agree</label>`},
		{`<label FOR=terms>x</label>`, `<label>x</label>`},
		{`<button popovertarget=menu popovertargetaction=show>m</button>`, `<button popovertargetaction=show>m</button>`},
		{`<button commandfor="confirm" command="show-modal">d</button>`, `<button command="show-modal">d</button>`},
		{`<button interestfor=menu interesttarget=menu>i</button>`, `<button>i</button>`},
		{`<input list=menu name=q>`, `<input name=q>`},
		{`<div anchor="menu" itemref="menu">a</div>`, `<div>a</div>`},
		{`<img usemap="#menu" src=x>`, `<img src=x>`},
		{`<table><tr><td headers="h1 checkout  h2">x</table>`, `<table><tr><td headers="h1 h2">x</td></tr></tbody></table>`},
		{`<output for="terms own">x</output>`, `<output for="own">x</output>`},
		{`<div aria-labelledby="menu" aria-describedby='own confirm' aria-controls=menu aria-owns="menu menu">x</div>`, `<div aria-describedby="own">x</div>`},
		{`<div aria-activedescendant=menu aria-details=menu aria-errormessage=menu aria-flowto=menu aria-actions=menu aria-labeledby=menu>x</div>`, `<div>x</div>`},
		{`<label for="&#116;erms">x</label>`, `<label>x</label>`},
		{`<div aria-describedby="a&amp;b x&amp;y">x</div>`, `<div aria-describedby="x&amp;y">x</div>`},
		{`<label for="two words">x</label>`, `<label>x</label>`},
		{`<label for=menu for=own>x</label>`, `<label for=own>x</label>`},
		// Ids that are not the page's, and what is not an id reference,
		// stay as they are.
		{`<div id="Checkout">x</div>`, `<div id="Checkout">x</div>`},
		{`<div id="checkout2" data-id=checkout class="checkout menu">x</div>`, `<div id="checkout2" data-id=checkout class="checkout menu">x</div>`},
		{`<label for="own-terms">x</label><input id=own-terms>`, `<label for="own-terms">x</label><input id=own-terms>`},
		{`<div aria-label="menu" title=menu name=menu>x</div>`, `<div aria-label="menu" title=menu name=menu>x</div>`},
		{`<svg><set href="#menu" attributeName=href to=x /><animate xlink:href="#menu"></animate><animateMotion href=#menu /></svg>`,
			`<svg><set attributeName=href to=x /><animate></animate><animateMotion /></svg>`},
		{`<svg><set href="#own" attributeName=href to=x /></svg>`, `<svg><set href="#own" attributeName=href to=x /></svg>`},
		{`<a href="#menu">top</a><svg><use href="#menu"/><a href="#menu"></a></svg>`, `<a href="#menu">top</a><svg><use href="#menu"/><a></a></svg>`},
		{`<input list="menu/">`, `<input list="menu/">`},
		{`<input list=menu/>`, `<input list=menu/>`},
		// Every reference attribute is read as a list of tokens, even one
		// that takes a single id: " terms" names no element, and still goes.
		{`<label for=" terms">x</label>`, `<label>x</label>`},
	} {
		for _, n := range []int{0, 1, 3, 7} {
			if got := guardedReserving(page, tt.in, n); got != tt.want {
				t.Errorf("%q in chunks of %d:\n got %q\nwant %q", tt.in, n, got, tt.want)
			}
		}
	}
}

// An SVG animation element's href is a URL: Chromium trims the spaces and
// control characters around it, removes tabs and newlines inside it,
// resolves it against the page's address and percent-decodes its fragment,
// so that " #menu", "#me%6Eu", "page#menu" and "/page#menu" all name the
// page's #menu. Such an href is kept only when it is "#" and an id that is
// not the page's, with no white space, control character or '%' in it.
// usemap is read from its first '#' whatever comes before it; a map is
// found by its name (a leading '#' cut off) as well as by its id, so a
// fragment's <map name> may not take the page's. Found by the outside
// attack on issue 25, item 5 (D1 and D2).
func TestGuardReferencesReadAsTheBrowserReadsThem(t *testing.T) {
	t.Parallel()
	page := map[string]bool{"menu": true, "pm": true, "#hm": true}
	for _, tt := range []struct{ in, want string }{
		{`<svg><set href=" #menu" attributeName=href to=x /></svg>`, `<svg><set attributeName=href to=x /></svg>`},
		{`<svg><set href="#menu " attributeName=href to=x /></svg>`, `<svg><set attributeName=href to=x /></svg>`},
		{`<svg><set href="&#9;#menu" attributeName=href to=x /></svg>`, `<svg><set attributeName=href to=x /></svg>`},
		{"<svg><set href=\"\x01#menu\" attributeName=href to=x /></svg>", `<svg><set attributeName=href to=x /></svg>`},
		{`<svg><set href="#me&#10;nu" attributeName=href to=x /></svg>`, `<svg><set attributeName=href to=x /></svg>`},
		{`<svg><set href="#me%6Eu" attributeName=href to=x /></svg>`, `<svg><set attributeName=href to=x /></svg>`},
		{`<svg><set href="http://127.0.0.1:8088/m#menu" attributeName=href to=x /></svg>`, `<svg><set attributeName=href to=x /></svg>`},
		{`<svg><set href=m#menu attributeName=href to=x /></svg>`, `<svg><set attributeName=href to=x /></svg>`},
		{`<svg><animate xlink:href="/m#menu"></animate><discard href=" #menu"/></svg>`, `<svg><animate></animate><discard /></svg>`},
		{`<svg><set href="#own%41" to=x /><set href="#o wn" to=x /><set href="other.svg#own" to=x /></svg>`, `<svg><set to=x /><set to=x /><set to=x /></svg>`},
		// The plain form of the fragment's own ids stays.
		{`<svg><set href="#own" to=x /><set href=" #own " to=x /><animate href=#a:b.c></animate></svg>`, `<svg><set href="#own" to=x /><set href=" #own " to=x /><animate href=#a:b.c></animate></svg>`},
		// usemap: from the first '#', as written.
		{`<img usemap="x#pm" src=x><img usemap=" #pm" src=x><img usemap="http://x/#pm" src=x>`, `<img src=x><img src=x><img src=x>`},
		{`<img usemap="##hm" src=x><img usemap="#pm " src=x><img usemap="#own" src=x>`, `<img src=x><img usemap="#pm " src=x><img usemap="#own" src=x>`},
		// An href elsewhere is a link, not an id reference...
		{`<a href="menu">x</a><a href=" #menu">y</a><svg><a href=pm></a></svg>`, `<a href="menu">x</a><a href=" #menu">y</a><svg><a href=pm></a></svg>`},
		// ... but an SVG link to "#id" (spaces around it trimmed) begins
		// the animation element of that id when it is clicked.
		{`<svg><a href="#menu"><rect/></a><a xlink:href=" #menu&#10;"/><a href="#own"></a><a href="/x#menu"></a></svg>`, `<svg><a><rect/></a><a /><a href="#own"></a><a href="/x#menu"></a></svg>`},
		{`<svg><foreignObject><a href="#menu">html</a></foreignObject></svg><math><a href="#menu"/></math>`, `<svg><foreignObject><a href="#menu">html</a></foreignObject></svg><math><a href="#menu"/></math>`},
		// A map may not take the page's map name.
		{`<map name="pm"><area shape=default href=https://evil.example/></map>`, `<map><area shape=default href=https://evil.example/></map>`},
		{`<map NAME="#pm"></map><map id=pm></map><map name=##hm></map>`, `<map></map><map></map><map></map>`},
		{`<map name="PM"></map><map name=" pm"></map><input name=pm><iframe name=pm></iframe>`, `<map name="PM"></map><map name=" pm"></map><input name=pm><iframe name=pm></iframe>`},
	} {
		for _, n := range []int{0, 1, 3, 7} {
			if got := guardedReserving(page, tt.in, n); got != tt.want {
				t.Errorf("%q in chunks of %d:\n got %q\nwant %q", tt.in, n, got, tt.want)
			}
		}
	}
}
