package template

import (
	"bytes"
	"html"

	xhtml "golang.org/x/net/html"

	"github.com/ssr-mfe/composer/composer/inert"
)

// inertScripts writes the scripts of a template's own markup as package
// inert does: inert, each followed by the activator, so that they run
// under the documented 'strict-dynamic' policy, which no longer lets a
// parser-inserted <script src> (nor an inline script whose hash it does
// not list) run. The template is the site's own: all its scripts may run.
// Data blocks (application/json, ...) stay as they are; markup without a
// script is returned as it is.
func inertScripts(raw []byte) []byte {
	if !bytes.Contains(bytes.ToLower(raw), []byte("<script")) {
		return raw
	}
	var b bytes.Buffer
	z := xhtml.NewTokenizer(bytes.NewReader(raw))
	z.SetMaxBuf(0)
	in := false // in a script made inert: its end tag takes the activator
	for {
		tt := z.Next()
		tok := z.Raw()
		switch tt {
		case xhtml.ErrorToken:
			b.Write(tok)
			return b.Bytes()
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			if name, hasAttr := z.TagName(); string(name) == "script" {
				if tag, ok := inertTag(z, hasAttr); ok {
					b.WriteString(tag)
					in = true
					continue
				}
			}
		case xhtml.EndTagToken:
			if name, _ := z.TagName(); string(name) == "script" && in {
				b.Write(tok)
				b.WriteString(inert.Tag)
				in = false
				continue
			}
		}
		b.Write(tok)
	}
}

// inertTag is the inert form of the script start tag z is on, or false
// for a data block. The first of each attribute counts, as in a browser;
// type, language and nonce go (the copy's own type is in inert.TypeAttr).
func inertTag(z *xhtml.Tokenizer, hasAttr bool) (string, bool) {
	type attr struct{ k, v string }
	var attrs []attr
	seen := map[string]bool{}
	for hasAttr {
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		if !seen[string(k)] {
			seen[string(k)] = true
			attrs = append(attrs, attr{string(k), string(v)})
		}
	}
	var typ, lang string
	var hasType, hasLang bool
	for _, a := range attrs {
		switch a.k {
		case "type":
			typ, hasType = a.v, true
		case "language":
			lang, hasLang = a.v, true
		}
	}
	kind, runs := inert.Kind(typ, hasType, lang, hasLang)
	if !runs {
		return "", false
	}
	var b bytes.Buffer
	b.WriteString(`<script type="` + inert.Type + `"`)
	if kind != "" {
		b.WriteString(` ` + inert.TypeAttr + `="` + kind + `"`)
	}
	for _, a := range attrs {
		switch a.k {
		case "type", "language", "nonce", inert.TypeAttr:
			continue
		}
		b.WriteString(" " + a.k)
		if a.v != "" {
			b.WriteString(`="` + html.EscapeString(a.v) + `"`)
		}
	}
	b.WriteString(">")
	return b.String(), true
}
