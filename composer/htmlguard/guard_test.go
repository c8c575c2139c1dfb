package htmlguard

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// guarded runs src through a guard in chunks of size n (0: whole).
func guarded(src string, n int) string {
	var g Guard
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
		{"lone less-than is text", `a < b <3`, `a < b <3`},
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

// pageAfterHolds parses a page with the guarded fragment inside a div and
// reports whether the page's own element after the div is still a child of
// body, with its text.
func pageAfterHolds(fragment string) (bool, string) {
	doc := "<!doctype html><html><body><div id=before>" + fragment + "</div><p id=after>after</p></body></html>"
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return false, err.Error()
	}
	var found *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "p" {
			for _, a := range n.Attr {
				if a.Key == "id" && a.Val == "after" {
					found = n
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if found == nil {
		return false, "no p#after"
	}
	if found.Parent == nil || found.Parent.Data != "body" {
		return false, "p#after is inside <" + found.Parent.Data + ">"
	}
	if found.FirstChild == nil || found.FirstChild.Data != "after" || found.FirstChild.NextSibling != nil {
		return false, "p#after lost its text"
	}
	return true, ""
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
		if ok, why := pageAfterHolds(guarded(frag, 3)); !ok {
			t.Errorf("fragment %q: %s", frag, why)
		}
	}
}

func FuzzGuard(f *testing.F) {
	for _, s := range []string{"<div><p>x", "<script>a</scr", "<!-- x", "</div></body>", "<table><tr><td>", "<a b='>'>"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, frag string, n int) {
		if n < 0 || n > 64 {
			n = 1
		}
		whole := guarded(frag, 0)
		if chunked := guarded(frag, n); chunked != whole {
			t.Fatalf("chunking changes the output:\nwhole   %q\nchunked %q", whole, chunked)
		}
		if ok, why := pageAfterHolds(whole); !ok {
			t.Fatalf("fragment %q (guarded %q) breaks the page: %s", frag, whole, why)
		}
	})
}

func BenchmarkGuard(b *testing.B) {
	src := []byte(strings.Repeat(`<div class="row"><p>Some <b>text</b> of a fragment, &amp; more.</p><img src="/x.png" alt="x"></div>`+"\n", 100))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	emit := func([]byte) {}
	for b.Loop() {
		var g Guard
		g.Write(src, emit)
		g.Close(emit)
	}
}
