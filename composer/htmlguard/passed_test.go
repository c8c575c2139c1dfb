package htmlguard

import (
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/inert"
)

// guardRules are the rules a Guard's output depends on, each with the
// scope a caller would give its Reserved ids.
type guardRules struct {
	name     string
	reserved map[string]bool
	scope    uint64
	scripts  *Scripts
}

// passedRules go from the most lenient to the strictest, so that a piece
// remembered under one is then tried under the next: none may take
// another's answer.
var passedRules = []guardRules{
	{"no ids, scripts as they are", nil, 1, nil},
	{"no ids, trusted scripts", nil, 1, &Scripts{Trust: true}},
	{"no ids, inert scripts", nil, 1, &Scripts{}},
	{"reserved ids, scripts as they are", soupIDs, 2, nil},
	{"reserved ids, trusted scripts", soupIDs, 2, &Scripts{Trust: true}},
	{"reserved ids, inert scripts", soupIDs, 2, &Scripts{}},
	{"reserved ids, a policy", soupIDs, 2, &Scripts{Policy: inert.ParsePolicy([]string{"script-src 'nonce-abc'"})}},
}

// writeWhole guards src with WriteWhole, and counts the pieces emitted.
func writeWhole(g *Guard, src string) (out string, emits int) {
	var b strings.Builder
	g.WriteWhole([]byte(src), func(p []byte) { b.Write(p); emits++ })
	return b.String(), emits
}

// WriteWhole gives what Write and Close give, byte for byte, for every
// input of the oracle and every rule, with one Passed shared by all of
// them: what it keeps of a piece, written out, is that piece's output
// under those rules.
func TestWriteWholeGivesWhatWriteAndCloseGive(t *testing.T) {
	t.Parallel()
	inputs := append(namedInputs(), html5libInputs(t)...)
	for _, soup := range []string{strings.Repeat(`<div class="row"><p>Some <b>text</b>, &amp; more.</p><img src="/x.png" alt="x"></div>`, 20),
		`<p id=x>mine</p>`, `<label for=after>x</label>`, `<script>alert(1)</script>`, `<script nonce=abc>go()</script>`,
		`<script type=application/json>{"a":1}</script>`, `<div>open`, "caf\xc3", "\xff<p>", ""} {
		inputs = append(inputs, corpusInput{from: "named", src: soup})
	}
	p := NewPassed(1 << 16)
	remembered := 0
	for _, in := range inputs {
		for _, r := range passedRules {
			ref := guardedBy(Guard{Reserved: r.reserved, Scripts: r.scripts}, in.src, 0)
			g := Guard{Reserved: r.reserved, Scripts: r.scripts, Passed: p, Scope: r.scope}
			first, _ := writeWhole(&g, in.src)
			again, _ := writeWhole(&g, in.src)
			if first != ref || again != ref {
				t.Fatalf("%s, %s: %q\nWrite and Close %q\nWriteWhole      %q\nagain           %q", in.from, r.name, in.src, ref, first, again)
			}
			// What was kept, written out for the piece, is the output.
			if slot, check := p.key([]byte(in.src), r.scope, r.scripts); r.scripts.policyIsZero() {
				if e := p.slots[slot].Load(); e != nil && e.check == check {
					if got := replay(e, in.src); got != ref {
						t.Fatalf("%s, %s: %q kept as %q, want %q", in.from, r.name, in.src, got, ref)
					}
					remembered++
				}
			}
		}
	}
	if remembered < len(inputs) {
		t.Errorf("%d of %d pieces' outputs kept under some rules, want most", remembered, len(inputs)*len(passedRules))
	}
}

// replay writes out what e kept for src.
func replay(e *passedPiece, src string) string {
	var b strings.Builder
	for _, sp := range e.spans {
		if sp.own {
			b.Write(e.own[sp.from:sp.to])
		} else {
			b.WriteString(src[sp.from:sp.to])
		}
	}
	return b.String()
}

func (s *Scripts) policyIsZero() bool { return s == nil || s.Policy.IsZero() }

// The same piece under another scope (another page's ids) is guarded
// anew: here its id is one of that page's.
func TestAPiecePassedUnderOneScopeIsGuardedUnderAnother(t *testing.T) {
	t.Parallel()
	p := NewPassed(64)
	src := `<p id=x>mine</p>`
	if out, _ := writeWhole(&Guard{Passed: p, Scope: 1}, src); out != src {
		t.Fatalf("without reserved ids: %q, want it unchanged", out)
	}
	out, _ := writeWhole(&Guard{Reserved: map[string]bool{"x": true}, Passed: p, Scope: 2}, src)
	if want := guardedReserving(map[string]bool{"x": true}, src, 0); out != want || out == src {
		t.Errorf("with x reserved: %q, want %q", out, want)
	}
}

// BenchmarkGuardWholeKept is BenchmarkGuard's fragment, and the harness's
// (2 KB, its last element cut by its size), given whole again and again
// with a Passed: what the guard kept is written out, unread.
func BenchmarkGuardWholeKept(b *testing.B) {
	harness := []byte(`<div class="fragment-0">` + strings.Repeat("<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\n", 30)[:2018] + `</div>`)
	for _, bc := range []struct {
		name string
		src  []byte
	}{{"bench", benchFragment}, {"harness2KB", harness}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.src)))
			b.ReportAllocs()
			emit := func([]byte) {}
			g := Guard{Passed: NewPassed(64), Scope: 1}
			for b.Loop() {
				g.WriteWhole(bc.src, emit)
			}
		})
	}
}
