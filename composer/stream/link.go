package stream

import (
	"html"
	"net/http"
	"strings"
)

// writeLinks renders a fragment's Link response headers with
// rel=stylesheet, preload or modulepreload as <link> elements just before
// its content, so the fragment brings its own assets.
func (pw *pageWriter) writeLinks(h http.Header) {
	for _, v := range h["Link"] {
		for _, l := range splitLinks(v) {
			if tag := linkTag(l); tag != "" {
				pw.write([]byte(tag))
			}
		}
	}
}

// splitLinks splits a Link header value into its links, minding commas
// inside <...> and quotes.
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// linkTag turns `<url>; rel=x; as=y` into an element, or "" for a rel we do
// not render.
func linkTag(l string) string {
	l = strings.TrimSpace(l)
	if !strings.HasPrefix(l, "<") {
		return ""
	}
	end := strings.IndexByte(l, '>')
	if end < 0 {
		return ""
	}
	href := strings.TrimSpace(l[1:end])
	if href == "" || strings.HasPrefix(strings.ToLower(href), "javascript:") {
		return ""
	}
	var rel, as, crossorigin string
	for _, p := range strings.Split(l[end+1:], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "rel":
			rel = strings.ToLower(v)
		case "as":
			as = strings.ToLower(v)
		case "crossorigin":
			crossorigin = v
			if crossorigin == "" {
				crossorigin = "anonymous"
			}
		}
	}
	switch rel {
	case "stylesheet", "preload", "modulepreload":
	default:
		return ""
	}
	var b strings.Builder
	b.WriteString(`<link rel="` + rel + `" href="` + html.EscapeString(href) + `"`)
	if as != "" && rel == "preload" {
		b.WriteString(` as="` + html.EscapeString(as) + `"`)
	}
	if crossorigin != "" {
		b.WriteString(` crossorigin="` + html.EscapeString(crossorigin) + `"`)
	}
	b.WriteString(">")
	return b.String()
}
