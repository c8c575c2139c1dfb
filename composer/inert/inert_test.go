package inert

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// The activator is the same text in HTML and inside <svg> or <math>,
// where character references decode and "<" starts a tag: one hash
// allows it everywhere.
func TestActivatorReadsTheSameInEveryNamespace(t *testing.T) {
	if strings.Contains(Activator, "<") || regexp.MustCompile(`&[A-Za-z0-9#]`).MatchString(Activator) {
		t.Fatal("the activator holds a < or a character reference")
	}
	for _, wrap := range []string{"%s", "<svg>%s</svg>", "<math>%s</math>"} {
		doc, err := html.Parse(strings.NewReader(strings.Replace(wrap, "%s", Tag, 1)))
		if err != nil {
			t.Fatal(err)
		}
		var text string
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "script" && n.FirstChild != nil {
				text = n.FirstChild.Data
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if text != Activator {
			t.Errorf("%s: the script's text is not the activator", wrap)
		}
	}
}

func TestKind(t *testing.T) {
	for _, tt := range []struct {
		typ     string
		hasType bool
		lang    string
		hasLang bool
		kind    string
		runs    bool
	}{
		{"", false, "", false, "", true},
		{"", true, "vbscript", true, "", true}, // an empty type is JavaScript, whatever the language
		{" Text/JavaScript ", true, "", false, "", true},
		{"MODULE", true, "", false, "module", true},
		{"importmap", true, "", false, "importmap", true},
		{"speculationrules", true, "", false, "speculationrules", true},
		{"application/json", true, "", false, "", false},
		{"application/ld+json", true, "", false, "", false},
		{"text/javascript; charset=utf-8", true, "", false, "", true}, // an engine that reads parameters runs it
		{"application/json; charset=utf-8", true, "", false, "", false},
		{"text/javascript\v", true, "", false, "", true}, // Chromium trims a vertical tab
		{"\u3000module", true, "", false, "module", true},
		{"", false, "javascript1.7", true, "", true}, // one of Chromium's legacy languages
		{"", false, "javascript", true, "", true},
		{"", false, "vbscript", true, "", false},
		{"mfe/inert", true, "", false, "", false},
	} {
		kind, runs := Kind(tt.typ, tt.hasType, tt.lang, tt.hasLang)
		if kind != tt.kind || runs != tt.runs {
			t.Errorf("Kind(%q, %v, %q, %v) = %q, %v; want %q, %v", tt.typ, tt.hasType, tt.lang, tt.hasLang, kind, runs, tt.kind, tt.runs)
		}
	}
}

func TestPolicyVouchesByNonceAndHashOnly(t *testing.T) {
	text := []byte("$RC(\"B:0\",\"S:0\")")
	sum := func(s string) string {
		return strings.Trim(digestsOf(s), "'")
	}
	h := sum(string(text))
	for _, tt := range []struct {
		name   string
		csp    []string
		nonce  string
		text   []byte
		allows bool
	}{
		{"no policy", nil, "abc", text, false},
		{"nonce", []string{"script-src 'nonce-abc' 'strict-dynamic'"}, "abc", text, true},
		{"another nonce", []string{"script-src 'nonce-abc'"}, "xyz", text, false},
		{"hash", []string{"script-src '" + h + "'"}, "", text, true},
		{"hash of CR LF text read as LF", []string{"script-src '" + sum("a\nb") + "'"}, "", []byte("a\r\nb"), true},
		{"another text", []string{"script-src '" + h + "'"}, "", []byte("evil()"), false},
		{"unsafe-inline and hosts vouch for nothing", []string{"script-src 'unsafe-inline' 'self' https: *"}, "", text, false},
		{"default-src", []string{"default-src 'nonce-abc'"}, "abc", text, true},
		{"script-src-elem first", []string{"script-src 'nonce-abc'; script-src-elem 'nonce-xyz'"}, "abc", text, false},
		{"a policy without scripts does not restrict", []string{"frame-ancestors 'none'", "script-src 'nonce-abc'"}, "abc", text, true},
		{"every policy must allow", []string{"script-src 'nonce-abc'", "script-src 'nonce-xyz'"}, "abc", text, false},
		{"two policies in one header", []string{"script-src 'nonce-abc', script-src 'nonce-abc' '" + h + "'"}, "abc", text, true},
		{"only frame-ancestors", []string{"frame-ancestors 'none'"}, "abc", text, false},
	} {
		p := ParsePolicy(tt.csp)
		if got := p.Allows(tt.nonce, tt.text); got != tt.allows {
			t.Errorf("%s: Allows = %v, want %v", tt.name, got, tt.allows)
		}
	}
}

func digestsOf(s string) string {
	for h := range digests([]byte(s), 1) {
		return h
	}
	return ""
}
