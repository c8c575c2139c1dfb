package htmlguard

import (
	"bytes"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/fragments"
)

// guardedBy runs src through g in chunks of n (0: whole).
func guardedBy(g Guard, src string, n int) string {
	var out bytes.Buffer
	emit := func(b []byte) { out.Write(b) }
	b := []byte(src)
	if n <= 0 {
		n = len(b) + 1
	}
	for len(b) > 0 {
		k := min(n, len(b))
		g.Write(b[:k], emit)
		b = b[k:]
	}
	g.Close(emit)
	return out.String()
}

// fastConfigs are the guards the fast path is compared in: plain, with
// reserved ids, with scripts made inert (none vouched for, or all).
var fastConfigs = []struct {
	name string
	g    Guard
}{
	{"plain", Guard{}},
	{"reserved", Guard{Reserved: soupIDs}},
	{"demo ids", Guard{Reserved: map[string]bool{"reviews": true, "review-name": true, "product-title": true, "x": true, "main": true}}},
	{"scripts", Guard{Scripts: &Scripts{Policy: inert.ParsePolicy([]string{"script-src 'nonce-abc'"})}}},
	{"trusted", Guard{Scripts: &Scripts{Trust: true}, Reserved: map[string]bool{"main": true}}},
}

// sameAsReference reports how src guarded with the fast path differs from
// src guarded with the full path alone (reference), whole and in chunks
// of n, in every configuration; "" if it does not.
func sameAsReference(src string, n int) string {
	for _, c := range fastConfigs {
		ref := c.g
		ref.reference = true
		want := guardedBy(ref, src, 0)
		for _, k := range []int{0, n} {
			if got := guardedBy(c.g, src, k); got != want {
				return c.name + ", chunks of " + strconv.Itoa(k) + ":\n got  " + clip(got, 400) + "\n want " + clip(want, 400)
			}
		}
	}
	return ""
}

// demoFragments are the demo bookshop's fragments as they answer.
func demoFragments(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range fragments.All(0) {
		rec := httptest.NewRecorder()
		f.HTTP().ServeHTTP(rec, httptest.NewRequest("GET", "/?id=1", nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Fatalf("demo fragment %s: %d, %d bytes", f.Name, rec.Code, rec.Body.Len())
		}
		out[f.Name] = rec.Body.String()
	}
	return out
}

// TestFastPathSameAsFullPath: the fast path changes nothing in what comes
// out. Every input of the oracle (the named ones, the html5lib corpus at
// every cut point, the random soup, the demo's fragments), guarded with
// it and with the full path alone, gives the same bytes.
func TestFastPathSameAsFullPath(t *testing.T) {
	t.Parallel()
	var srcs []string
	for _, in := range append(namedInputs(), html5libInputs(t)...) {
		for _, c := range cutPoints(in.src) {
			srcs = append(srcs, in.src[:c])
		}
	}
	for _, s := range demoFragments(t) {
		for _, c := range cutPoints(s) {
			srcs = append(srcs, s[:c])
		}
	}
	srcs = append(srcs, string(benchFragment))
	// Attributes the fast path must judge as attrs does, in plain places.
	srcs = append(srcs, `<div id=x><span id="main">a</span><p aria-describedby="x y">b</p><label for='review-name x main'>c</label>`+
		`<output for="x">d</output><img usemap="#x"><img usemap=#y><map name=x></map><map name="#main"></map><a href="#x">e</a>`+
		`<div aria-labelledby=" x "><input list=x form=f><input formaction=/x><span popovertarget="a x b" commandfor=x>`+
		`<section itemref="x&#32;y" headers="x"><set href=#x><div ID=X id=x>f</div><ul><li id=reviews>g</li></ul>`+
		`<div aria-owns="a	b"><x-y id=x></x-y><b name=x><i anchor=x interestfor="main">h</i></b></section></span></div>`,
		`<svg viewBox="0 0 1 1"><g id=x><a href="#x"><rect/></a><a href=" #main"></a><set href="#x"/><animate href="#y">`+
			`<path d="M0 0" id="y"/><font color=red>i</font><desc><p>j</p></desc><circle r=1 /></animate></g></svg>`)
	r := rand.New(rand.NewPCG(26, 2))
	for range 3000 {
		var b strings.Builder
		for range 1 + r.IntN(40) {
			b.WriteString(soupTokens[r.IntN(len(soupTokens))])
			if r.IntN(4) == 0 {
				b.WriteString("x")
			}
		}
		srcs = append(srcs, b.String())
	}
	failures := 0
	for i, s := range srcs {
		if d := sameAsReference(s, 1+i%7); d != "" {
			failures++
			if failures <= 5 {
				t.Errorf("input %q: %s", clip(s, 300), d)
			}
		}
	}
	t.Logf("%d inputs", len(srcs))
}

// TestFastPathTakesPlainTags: the fast path does take the tags it is for
// (else the test above would compare the full path with itself), and
// leaves those it is not for.
func TestFastPathTakesPlainTags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		open, tag string // what is open (through the full path), the tag
		taken     bool
	}{
		{``, `<div class="row">`, true},
		{``, `<DIV Class=row id='x' hidden>`, true},
		{``, `<img src="/x.png" alt="x">`, true},
		{``, `<br/>`, true},
		{`<div>`, `</div>`, true},
		{`<div>`, `</DIV>`, true},
		{`<p>`, `<b>`, true},
		{`<ul>`, `<li>`, true},
		{`<div><span>`, `<a href="/x">`, true},
		{``, `<section>`, true},
		{``, `<input name=q>`, true},
		{``, `<input form=f>`, false},          // a form attribute: attrs drops it
		{``, `<x-widget>`, false},              // not a known name
		{``, `<blockquote>`, true},             // up to 16 bytes
		{``, `<averyveryverylongname>`, false}, // longer than 16
		{``, `<svg viewBox="0 0 1 1">`, true},
		{``, `<math>`, true},
		{``, `<button type=button>`, true},
		{`<button>`, `<button>`, false}, // closes the button
		{`<dl>`, `<dt>`, true},
		{`<dl><dt>`, `<dd>`, false}, // closes the dt
		{``, `<form>`, true},
		{`<form>`, `<form>`, false}, // the form element pointer is set
		{`<form></form>`, `<form>`, true},
		{``, `<div a = b>`, false},             // spaces around '='
		{``, `<div a=b`, false},                // not complete
		{`<p>`, `<div>`, false},                // closes the p
		{`<ul><li>`, `<li>`, false},            // closes the li
		{`<a>`, `<a>`, false},                  // closes the a
		{`<h1>`, `<h2>`, false},                // closes the h1
		{`<table>`, `<div>`, false},            // in a table
		{`<svg>`, `<g>`, true},                 // svg content
		{`<svg>`, `<rect x="1"/>`, true},       // svg content, self-closing
		{`<svg>`, `<div>`, false},              // breaks out of svg
		{`<svg>`, `<a href="#x">`, false},      // svgLinkToPage
		{`<svg><foreignObject>`, `<g>`, false}, // an integration point
		{`<math>`, `<mi>`, false},              // math
		{`<select>`, `<span>`, false},          // in a select
		{`<template>`, `<span>`, false},        // its first tag sets its mode
		{``, `<script>`, false},                // raw text
		{``, `<td>`, false},                    // a table part
		{``, `<meta itemprop=x>`, false},       // meta
		{`<div><span>`, `</div>`, false},       // not the current node
		{`<div>`, `</div >`, false},            // not plainly "</name>"
		{``, `</div>`, false},                  // nothing open
		{`<div id=x>`, `<span id=x>`, true},    // no reserved ids: kept
		{`<div>`, `<span title=">">`, true},    // '>' in a quoted value
		{`<div>`, `<span title="a'b">`, true},  // the other quote inside
	} {
		var g Guard
		g.Write([]byte(tt.open), func([]byte) {})
		before := len(g.stack)
		n := g.fastRun([]byte(tt.tag), 0)
		if taken := n > 0; taken != tt.taken {
			t.Errorf("%q after %q: taken %v, want %v", tt.tag, tt.open, taken, tt.taken)
			continue
		}
		if n > 0 && n != len(tt.tag) {
			t.Errorf("%q after %q: length %d, want %d", tt.tag, tt.open, n, len(tt.tag))
		}
		if n == 0 && len(g.stack) != before {
			t.Errorf("%q after %q: left to the full path, but the stack changed", tt.tag, tt.open)
		}
	}
}

// FuzzGuardFastPath: whatever the input and however it is split, the fast
// path gives the bytes the full path alone gives.
func FuzzGuardFastPath(f *testing.F) {
	f.Add(string(benchFragment), 3)
	for i, in := range namedInputs() {
		f.Add(in.src, i%17)
	}
	f.Fuzz(func(t *testing.T, src string, n int) {
		if d := sameAsReference(src, n%64+1); d != "" {
			t.Fatalf("input %q: %s", src, d)
		}
	})
}

// TestAttrLensKnowsEveryKind: every attribute name attrKind tells apart
// is in attrKindNames (read from attrKind's source), so that the fast
// path never takes such an attribute for an ordinary one.
func TestAttrLensKnowsEveryKind(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("guard.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	start := strings.Index(body, "\nfunc attrKind(")
	if start < 0 {
		t.Fatal("no attrKind in guard.go")
	}
	body = body[start:]
	body = body[:strings.Index(body, "\n}\n")]
	names := 0
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "case \"") && !strings.HasPrefix(line, "\"") {
			continue
		}
		for _, q := range regexp.MustCompile(`"[^"]*"`).FindAllString(line, -1) {
			n := strings.Trim(q, `"`)
			names++
			if !slices.Contains(attrKindNames, n) {
				t.Errorf("attrKind tells %q apart, attrKindNames does not list it", n)
			}
		}
	}
	if names < 20 {
		t.Fatalf("read %d names from attrKind: the test no longer reads it", names)
	}
	for _, n := range append(slices.Clone(attrKindNames), attrKindPrefix+"mode") {
		for _, v := range []string{n, strings.ToUpper(n)} {
			if attrKind([]byte(v)) == aOther {
				t.Errorf("attrKind(%q) is aOther", v)
			}
			if attrLens[v[0]]&(1<<len(v)) == 0 {
				t.Errorf("attrLens does not mark %q", v)
			}
		}
	}
}

// TestMemoMasks: the masks the fast path pushes with give memoOf's memo,
// whatever is below.
func TestMemoMasks(t *testing.T) {
	t.Parallel()
	n := 0
	for _, f := range fastNames {
		if f.key == 0 {
			continue
		}
		n++
		for below := range 256 {
			if got, want := uint8(below)&f.keep|f.set, memoOf(uint8(below), f.bits); got != want {
				t.Fatalf("%s below %08b: %08b, memoOf %08b", f.name, below, got, want)
			}
		}
	}
	if n < 100 {
		t.Fatalf("%d names in the table", n)
	}
}
