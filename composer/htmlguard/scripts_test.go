package htmlguard

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/ssr-mfe/composer/composer/inert"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// guardScripts runs src through a guard with scripts, whole and split at
// every byte, and returns the output with the activator as {A}.
func guardScripts(t *testing.T, s *Scripts, src string) string {
	t.Helper()
	run := func(chunks []string) string {
		var out strings.Builder
		g := Guard{Scripts: s}
		for _, c := range chunks {
			g.Write([]byte(c), func(p []byte) { out.Write(p) })
		}
		g.Close(func(p []byte) { out.Write(p) })
		return strings.ReplaceAll(out.String(), inert.Tag, "{A}")
	}
	whole := run([]string{src})
	var bytewise []string
	for i := range len(src) {
		bytewise = append(bytewise, src[i:i+1])
	}
	if got := run(bytewise); got != whole {
		t.Errorf("%s: byte by byte:\n got %s\nwant %s", src, got, whole)
	}
	return whole
}

// Every script of a fragment is written inert; only those its answer's
// own policy vouches for (a nonce, a hash; never 'unsafe-inline' or a
// host) get the activator after them. Data blocks pass as they are.
func TestScriptsAreInertUnlessVouched(t *testing.T) {
	t.Parallel()
	policy := &Scripts{Policy: inert.ParsePolicy([]string{"script-src 'nonce-n0nce' " + sha("hashed()") + " 'unsafe-inline' 'self'"})}
	tests := []struct{ name, in, want string }{
		{"nonce", `<p>a</p><script nonce="n0nce">$RC("B:0","S:0")</script><p>b</p>`,
			`<p>a</p><script type="mfe/inert">$RC("B:0","S:0")</script>{A}<p>b</p>`},
		{"hash", `<script>hashed()</script>`, `<script type="mfe/inert">hashed()</script>{A}`},
		{"unvouched inline", `<script>evil()</script>`, `<script type="mfe/inert">evil()</script>`},
		{"another nonce", `<script nonce=other>evil()</script>`, `<script type="mfe/inert">evil()</script>`},
		{"the first nonce counts", `<script nonce=other nonce=n0nce>evil()</script>`, `<script type="mfe/inert">evil()</script>`},
		{"src with the nonce", `<script nonce=n0nce src="/app.js" async></script>`, `<script type="mfe/inert" src="/app.js" async></script>{A}`},
		{"src without it", `<script src="/evil.js"></script>`, `<script type="mfe/inert" src="/evil.js"></script>`},
		{"src whose empty text has a listed hash", `<script src="/evil.js"></script>x`, `<script type="mfe/inert" src="/evil.js"></script>x`},
		{"module", `<script type="module" nonce="n0nce">import "/m.js"</script>`, `<script type="mfe/inert" data-mfe-type="module">import "/m.js"</script>{A}`},
		{"importmap", `<script type=importmap nonce=n0nce>{}</script>`, `<script type="mfe/inert" data-mfe-type="importmap">{}</script>{A}`},
		{"forged inert attributes", `<script data-mfe-type=module type="text/javascript" type=module>evil()</script>`, `<script type="mfe/inert">evil()</script>`},
		{"self-closing", `<script nonce="n0nce"/>x()</script>`, `<script type="mfe/inert">x()</script>{A}`},
		{"data block", `<script type="application/json" id=data>{"a": "</b>"}</script>`, `<script type="application/json" id=data>{"a": "</b>"}</script>`},
		{"svg script", `<svg><script nonce=n0nce>x()</script></svg>`, `<svg><script type="mfe/inert">x()</script></svg>`},
		{"end tag with attributes", `<script nonce=n0nce>x()</script foo>y`, `<script type="mfe/inert">x()</script foo>{A}y`},
		{"cut off by the end", `<script nonce=n0nce>x(`, `<script type="mfe/inert">x(</script>`},
		{"escaped end in an HTML comment", `<script nonce=n0nce><!--<script>--></script>z`, `<script type="mfe/inert"><!--<script>--></script>{A}z`},
		{"upper case", `<SCRIPT NONCE=n0nce>x()</SCRIPT>`, `<script type="mfe/inert">x()</SCRIPT>{A}`},
		{"in a table", `<table><script nonce=n0nce>x()</script><tr><td>c</td></tr></table>`, `<table><script type="mfe/inert">x()</script>{A}<tr><td>c</td></tr></tbody></table>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := guardScripts(t, policy, tt.in); got != tt.want {
				t.Errorf("%s:\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

// An entry that trusts its fragment's scripts has them all run; none of
// them is vouched for when the answer has no policy.
func TestScriptsTrustedOrNoPolicy(t *testing.T) {
	t.Parallel()
	in := `<script>a()</script><script src="/b.js"></script><svg><script>c()</script></svg>`
	if got, want := guardScripts(t, &Scripts{Trust: true}, in), `<script type="mfe/inert">a()</script>{A}<script type="mfe/inert" src="/b.js"></script>{A}<svg><script type="mfe/inert">c()</script></svg>`; got != want {
		t.Errorf("trusted:\n got %s\nwant %s", got, want)
	}
	if got, want := guardScripts(t, &Scripts{}, in), `<script type="mfe/inert">a()</script><script type="mfe/inert" src="/b.js"></script><svg><script type="mfe/inert">c()</script></svg>`; got != want {
		t.Errorf("no policy:\n got %s\nwant %s", got, want)
	}
	// Without Scripts, the guard leaves scripts as they are (markup alone).
	if got := guardScripts(t, nil, in); got != in {
		t.Errorf("without Scripts:\n got %s\nwant %s", got, in)
	}
}

// guardedWith runs src through a guard with scripts, in chunks of n.
func guardedWith(s *Scripts, src string, n int) string {
	return guardedBy(Guard{Scripts: s}, src, n)
}

// liveScripts lists the scripts of the parsed page that a browser would
// run (not inert, not a data block), template contents included, but the
// page's own mover; activators counts the activators among them.
func liveScripts(n *html.Node) (live []string, activators int) {
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "script" {
			var typ, lang string
			var hasType, hasLang bool
			for _, a := range n.Attr {
				switch {
				case a.Key == "type" && !hasType:
					typ, hasType = a.Val, true
				case a.Key == "language" && !hasLang:
					lang, hasLang = a.Val, true
				}
			}
			text := ""
			if n.FirstChild != nil {
				text = n.FirstChild.Data
			}
			if _, runs := inert.Kind(typ, hasType, lang, hasLang); runs && text != moverScript {
				if text == inert.Activator {
					activators++
				} else {
					live = append(live, render(n))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return live, activators
}

// Whatever a fragment's markup, no script of it is left to run in the
// page, in a sync slot or in an async one's template (which the mover
// inserts as it is): only activators, and only after a script its policy
// vouches for. The page still holds, with the activators in it.
func TestGuardScriptsOracle(t *testing.T) {
	t.Parallel()
	inputs := append(namedInputs(), html5libInputs(t)...)
	for _, extra := range []string{
		`<script>a()</script>`, `<svg><script>b()</script></svg>`, `<math><script>c()</script></math>`,
		`<table><script>d()</script></table>`, `<template><script>e()</script></template>`,
		`<script src=/x.js></script>`, `<select><script>f()</script></select>`,
		`<script>` + inert.Activator + `</script>`, `<noscript><script>g()</script></noscript>`,
	} {
		inputs = append(inputs, corpusInput{from: "scripts", src: extra})
	}
	none, trust := &Scripts{}, &Scripts{Trust: true}
	for _, in := range inputs {
		out := guardedWith(none, in.src, 0)
		for _, k := range pageKinds {
			doc, err := html.Parse(strings.NewReader(k.page(out)))
			if err != nil {
				t.Fatal(err)
			}
			if live, act := liveScripts(doc); len(live) > 0 || act > 0 {
				t.Errorf("%s: input %q, %s slot: scripts left to run %q, %d activators", in.from, clip(in.src, 200), k.name, live, act)
			}
		}
		if got := guardedWith(none, in.src, 3); got != out {
			t.Errorf("%s: input %q: chunking changes the output", in.from, clip(in.src, 200))
		}
		trusted := guardedWith(trust, in.src, 0)
		if err := checkHoldsScripts(trusted); err != nil {
			t.Errorf("%s: input %q, trusted %q: %v", in.from, clip(in.src, 200), clip(trusted, 300), err)
		}
	}
}

// checkHoldsScripts is checkHolds for an output with activators: they
// are the composer's, so the page holds with them taken out.
func checkHoldsScripts(out string) error {
	return checkHolds(strings.ReplaceAll(out, inert.Tag, ""))
}

// BenchmarkGuardScripts is BenchmarkGuard as the composer runs it, with
// the fragment's policy read: a page without scripts must not pay for
// them.
func BenchmarkGuardScripts(b *testing.B) {
	src := benchFragment
	s := &Scripts{Policy: inert.ParsePolicy([]string{"script-src 'nonce-abc' 'strict-dynamic'"})}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	emit := func([]byte) {}
	for b.Loop() {
		g := Guard{Scripts: s}
		g.Write(src, emit)
		g.Close(emit)
	}
}

// BenchmarkGuardReactScripts is a React fragment's answer: its Suspense
// scripts, vouched for by hash (the costlier way: their text is kept and
// hashed).
func BenchmarkGuardReactScripts(b *testing.B) {
	script := `$RC=function(a,b){if(b=document.getElementById(b))(a=document.getElementById(a))?a.previousSibling.data="$~":b.parentNode.removeChild(b)};$RC("B:0","S:0")`
	src := []byte(string(benchFragment) + `<div hidden id="S:0"><p>x</p></div><script>` + script + `</script>`)
	s := &Scripts{Policy: inert.ParsePolicy([]string{"script-src " + sha(script)})}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	emit := func([]byte) {}
	for b.Loop() {
		g := Guard{Scripts: s}
		g.Write(src, emit)
		g.Close(emit)
	}
}
