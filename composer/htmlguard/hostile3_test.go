package htmlguard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/inert"
)

// paddings are characters a browser may trim from a script's type before
// it compares it with the JavaScript MIME types: Chromium trims all of
// these but the ASCII ones the standard names (issue 25, the third
// outside attack: a type padded with U+000B ran as JavaScript while the
// guard passed it as a data block).
var paddings = []string{"\v", "\u1680", "\u2000", "\u2005", "\u200a", "\u2028", "\u205f", "\u3000",
	"\u00a0", "\u0085", "\u2029", "\u202f", "\ufeff", "\u200b", "\u180e", "\x00", "\x01", "\x7f", " \v\t"}

// A script whose type or language a browser may read as JavaScript once
// trimmed is a script: written inert, never passed as a data block.
func TestGuardScriptTypesPaddedAreScripts(t *testing.T) {
	t.Parallel()
	s := &Scripts{}
	for _, pad := range paddings {
		for _, typ := range []string{"text/javascript", "TEXT/JavaScript", "application/ecmascript", "module", "MODULE", "importmap", "speculationrules", "text/javascript;charset=utf-8"} {
			for _, v := range []string{typ + pad, pad + typ, pad + typ + pad} {
				for _, src := range []string{"", ` src="/evil.js"`} {
					in := fmt.Sprintf(`<script type="%s"%s>evil()</script><p>x</p>`, v, src)
					got := guardScripts(t, s, in)
					if !strings.HasPrefix(got, `<script type="mfe/inert"`) || strings.Contains(got, v) {
						t.Errorf("%q:\n got %q", in, got)
					}
				}
			}
		}
		for _, lang := range []string{"javascript", "JavaScript1.7", "livescript", "jscript", "ecmascript"} {
			in := fmt.Sprintf(`<script language="%s">evil()</script>`, pad+lang+pad)
			if got := guardScripts(t, s, in); got != `<script type="mfe/inert">evil()</script>` {
				t.Errorf("%q:\n got %q", in, got)
			}
		}
	}
	// A character reference is the character.
	for _, in := range []string{`<script type="text/javascript&#x0B;">evil()</script>`, `<script type="&#x3000;module">evil()</script>`} {
		if got := guardScripts(t, s, in); !strings.HasPrefix(got, `<script type="mfe/inert"`) {
			t.Errorf("%q:\n got %q", in, got)
		}
	}
	// Data blocks still pass, padded or not.
	for _, in := range []string{`<script type="application/json">{}</script>`, "<script type=\"application/ld+json\v\">{}</script>",
		`<script type="text/x-template">{{a}}</script>`, `<script type="application/json; charset=utf-8">{}</script>`} {
		if got := guardScripts(t, s, in); got != in {
			t.Errorf("data block %q:\n got %q", in, got)
		}
	}
}

func TestKindTrimsWhatABrowserMayTrim(t *testing.T) {
	t.Parallel()
	for _, pad := range paddings {
		for typ, kind := range map[string]string{"text/javascript": "", "Module": "module", "importmap": "importmap", "speculationrules": "speculationrules"} {
			for _, v := range []string{typ + pad, pad + typ} {
				if k, runs := inert.Kind(v, true, "", false); !runs || k != kind {
					t.Errorf("Kind(%q) = %q, %v; want %q, true", v, k, runs, kind)
				}
			}
		}
		if _, runs := inert.Kind(pad, true, "", false); !runs {
			t.Errorf("Kind(%q): a type of padding only does not run", pad)
		}
		if _, runs := inert.Kind("", false, pad+"javascript1.7"+pad, true); !runs {
			t.Errorf("Kind(language %q) does not run", pad+"javascript1.7")
		}
	}
}

// Chromium does not treat <search> as special in its tree builder, the
// standard (and Go's parser) does: the guard drops its tags, keeping its
// content, so that neither reading has the element. Issue 25.
func TestGuardDropsSearch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		// The attack: in Chromium <dt> closed the fragment's dd, div, div
		// and search, and the two </div> closed the page's elements.
		{`<dd><div><div><search><dt>x</dt></search></div></div><p>ESCAPED</p></dd>`, `<dd><div><div></div></div></dd><dt>x</dt><p>ESCAPED</p>`},
		{`<li><div><search><li></li></search></div><template shadowrootmode="open"><h1>FAKE</h1></template></li>`, `<li><div></div></li><li></li><template><h1>FAKE</h1></template>`},
		{`<search><form><input name=q></form></search>`, `<form><input name=q></form>`},
		{`<SEARCH role=search>a</SEARCH>`, `a`},
		{`</search>a`, `a`},
		{`<svg><search>a</search></svg>`, `<svg><search>a</search></svg>`},
	} {
		for _, n := range []int{0, 1, 3, 7} {
			if got := guarded(tt.in, n); got != tt.want {
				t.Errorf("%q in chunks of %d:\n got %q\nwant %q", tt.in, n, got, tt.want)
			}
		}
	}
}
