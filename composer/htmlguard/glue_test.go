package htmlguard

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// startTags is how the tokenizer reads the start tags of s: each one's
// name and its attributes' names, "name[a b]", space-separated.
func startTags(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var tags []string
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.Join(tags, " ")
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			keys := make([]string, len(tok.Attr))
			for i, a := range tok.Attr {
				keys[i] = a.Key
			}
			tags = append(tags, tok.Data+"["+strings.Join(keys, " ")+"]")
		}
	}
}

// guardedCut runs src through a guard reserving ids in two writes, cut
// at c.
func guardedCut(ids map[string]bool, src string, c int) string {
	g := Guard{Reserved: ids}
	var out bytes.Buffer
	emit := func(b []byte) { out.Write(b) }
	g.Write([]byte(src[:c]), emit)
	g.Write([]byte(src[c:]), emit)
	g.Close(emit)
	return out.String()
}

// An attribute the guard drops or rewrites leaves the tag read as it was:
// after a quoted value, a name that follows with no space starts a new
// attribute (a="x"b is a and b), so the guard keeps a separator where it
// drops one. Cutting out a="x" with the space before it glued the next
// attribute to the tag's name: <s form="x"cript> came out <script>, and
// the fragment could write any tag (script, plaintext, body, base, meta,
// a shadow root's template). Issue 25, the outside attack on the guard.
func TestGuardRemovedAttributeLeavesItsSeparator(t *testing.T) {
	t.Parallel()
	ids := map[string]bool{"top": true, "pay": true}
	for _, tt := range []struct{ in, want string }{
		{`<s form="x"cript>alert(1)</script>`, `s[cript]`},
		{`<p form="x"laintext>`, `p[laintext]`},
		{`<b form=""ody onload=alert(1)>`, `b[ody onload]`},
		{`<b form=""ase href=https://evil.example/>`, `b[ase href]`},
		{`<m form=""eta http-equiv=refresh content="0;url=https://evil.example/">`, `m[eta http-equiv content]`},
		{`<t form=""emplate shadowrootmode=open>x`, `t[emplate shadowrootmode]`},
		{`<s form='x'cript>`, `s[cript]`},
		{`<s FORMACTION="x"cript>`, `s[cript]`},
		{`<s formnovalidate form="x"cript>`, `s[cript]`},
		{`<s form="x"form="y"/form=z cript>`, `s[cript]`},
		{`<s form="x"/cript>`, `s[cript]`},
		{`<s form="x"=cript>`, `s[=cript]`},
		{`<s/form="x"cript>`, `s[cript]`},
		{`<x a="1"form="y"b>`, `x[a b]`},
		{`<x a='1'form='y'b c>`, `x[a b c]`},
		{`<x a=1 form=y b>`, `x[a b]`},
		{`<x form=y/cript>`, `x[]`},
		{`<s id="top"cript>`, `s[cript]`},
		{`<s ID='pay'cript>`, `s[cript]`},
		{`<s for="top"cript>`, `s[cript]`},
		{`<s aria-describedby="top"cript>`, `s[cript]`},
		{`<s aria-describedby="top mine"cript>`, `s[aria-describedby cript]`},
		{`<s aria-describedby=top cript>`, `s[cript]`},
		{`<template shadowrootmode="open"x>`, `template[x]`},
		{`<template shadowrootmode=open shadowrootclonable=""x>`, `template[x]`},
		{`<map name="top"x>`, `map[x]`},
		{`<img usemap="#top"x>`, `img[x]`},
		{`<svg><set href="#top"x/></svg>`, `svg[] set[x]`},
		{`<svg><a href="#top"x></a></svg>`, `svg[] a[x]`},
	} {
		for c := 0; c <= len(tt.in); c++ {
			got := guardedCut(ids, tt.in, c)
			if tags := startTags(got); tags != tt.want {
				t.Errorf("%q cut at %d: guarded %q, read as %s, want %s", tt.in, c, got, tags, tt.want)
				break
			}
		}
		if got, whole := guardedReserving(ids, tt.in, 1), guardedReserving(ids, tt.in, 0); got != whole {
			t.Errorf("%q byte by byte: %q, whole: %q", tt.in, got, whole)
		}
	}
}

// Every start tag soupTag writes, guarded alone (reserving soupIDs, so
// that ids and references are dropped and rewritten too), is read by the
// tokenizer with the fragment's own name and a subsequence of its own
// attributes: nothing the guard removes changes how the rest is read.
func TestGuardSoupTagsReadAsWritten(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(25, 25))
	failures := 0
	for range 20000 {
		src := soupTag(r)
		want := tagAttrs(startTags(src))
		got := startTags(guardedReserving(soupIDs, src, 0))
		if got == "" { // the tag was dropped
			continue
		}
		g := tagAttrs(got)
		ok := g[0] == want[0]
		k := 1
		for _, a := range g[1:] {
			for k < len(want) && want[k] != a {
				k++
			}
			ok = ok && k < len(want)
			k++
		}
		if !ok {
			failures++
			if failures < 6 {
				t.Errorf("%q: guarded %q, read as %s, from %s", src, guardedReserving(soupIDs, src, 0), got, startTags(src))
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d failures", failures)
	}
}

// tagAttrs splits startTags' reading of one tag, "name[a b]", into the
// name and the attributes' names.
func tagAttrs(s string) []string {
	name, attrs, _ := strings.Cut(strings.TrimSuffix(s, "]"), "[")
	return append([]string{name}, strings.Fields(attrs)...)
}
