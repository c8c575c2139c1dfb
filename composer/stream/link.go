package stream

import (
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/composer/registry"
)

// A fragment brings its own assets in its Link response headers, by the
// conventions the frameworks already use:
//
//   - rel=stylesheet (Tailor, hand-written fragments) and Podium's
//     asset-type=style become <link rel="stylesheet">, before the content;
//   - rel=preload and rel=modulepreload become those <link>s, before it;
//   - Podium's asset-type=script becomes <script src>, with type=module,
//     async, defer, crossorigin and integrity as the podlet gave them,
//     after the content (where a podlet's page would have it).
//
// Each URL is written once per page (pageWriter.asset), whoever names it
// first: the registry's assets in the head, then the fragments in the
// order they are written.

// link is one link of a Link header: its target and its parameters, names
// in lower case, the first of each name kept (RFC 8288 §3.4), a parameter
// without a value mapped to "".
type link struct {
	href   string
	params map[string]string
}

// parseLinks parses a Link header value (RFC 8288 §3): links separated by
// commas, each `<target>` then `; name=value` parameters, a value a token
// or a quoted string with backslash escapes. Commas and semicolons inside
// <...> or a quoted string are part of it. A link that does not parse is
// skipped, up to the next comma outside <...> and quotes.
func parseLinks(v string) []link {
	var out []link
	i := 0
	skipWS := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	// skipLink moves past the rest of a bad link.
	skipLink := func() {
		for quoted, angle := false, false; i < len(v); i++ {
			switch c := v[i]; {
			case quoted && c == '\\':
				i++
			case c == '"' && !angle:
				quoted = !quoted
			case quoted:
			case c == '<':
				angle = true
			case c == '>':
				angle = false
			case c == ',' && !angle:
				i++
				return
			}
		}
	}
	for i < len(v) {
		skipWS()
		if i < len(v) && v[i] == ',' {
			i++
			continue
		}
		if i >= len(v) {
			break
		}
		if v[i] != '<' {
			skipLink()
			continue
		}
		end := strings.IndexByte(v[i:], '>')
		if end < 0 {
			break
		}
		l := link{href: strings.TrimSpace(v[i+1 : i+end]), params: map[string]string{}}
		i += end + 1
		ok := true
		for ok {
			skipWS()
			if i >= len(v) || v[i] == ',' {
				break
			}
			if v[i] != ';' {
				ok = false
				break
			}
			i++
			skipWS()
			start := i
			for i < len(v) && isToken(v[i]) {
				i++
			}
			name := strings.ToLower(v[start:i])
			skipWS()
			value := ""
			if i < len(v) && v[i] == '=' {
				i++
				skipWS()
				if i < len(v) && v[i] == '"' {
					var b strings.Builder
					i++
					for ; i < len(v) && v[i] != '"'; i++ {
						if v[i] == '\\' && i+1 < len(v) {
							i++
						}
						b.WriteByte(v[i])
					}
					if i >= len(v) {
						ok = false // an unterminated quoted string
						break
					}
					i++
					value = b.String()
				} else {
					start := i
					for i < len(v) && isValueChar(v[i]) {
						i++
					}
					value = v[start:i]
				}
			}
			if name == "" {
				continue // "; ;" or a lone ";"
			}
			if _, dup := l.params[name]; !dup {
				l.params[name] = value
			}
		}
		if !ok {
			skipLink()
			continue
		}
		out = append(out, l)
	}
	return out
}

// isToken reports whether c may be in an RFC 9110 token (a parameter's
// name).
func isToken(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isValueChar reports whether c may be in an unquoted parameter value: a
// token's characters, and those fragments write unquoted though a token
// has none of them (/, :, =, ?, @), so that `integrity=sha384-a+b/c=` and
// `type=text/css` read whole.
func isValueChar(c byte) bool {
	return isToken(c) || strings.IndexByte("/:=?@[]", c) >= 0
}

// flag reads a boolean parameter as Podium writes it (async=true) or as a
// bare name (async).
func (l link) flag(name string) bool {
	v, ok := l.params[name]
	return ok && (v == "" || strings.EqualFold(v, "true") || strings.EqualFold(v, name))
}

// crossorigin is the element's crossorigin value: "" when absent, and
// "anonymous" for a bare flag or Podium's crossorigin=true.
func (l link) crossorigin() string {
	v, ok := l.params["crossorigin"]
	switch {
	case !ok || strings.EqualFold(v, "false"):
		return ""
	case v == "" || strings.EqualFold(v, "true") || strings.EqualFold(v, "anonymous"):
		return "anonymous"
	case strings.EqualFold(v, "use-credentials"):
		return "use-credentials"
	}
	return "anonymous" // an invalid value is the anonymous state in HTML too
}

// assetURL applies today's URL rules for assets, the registry's
// (registry.Assets): a path or an http(s) URL, never javascript:, data: or
// another scheme; a quote, angle bracket, space or backslash makes it no
// URL.
func assetURL(href string) bool {
	if href == "" || strings.ContainsAny(href, "\\\"<>\r\n\t ") {
		return false
	}
	u, err := url.Parse(href)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "", "http", "https":
		return true
	}
	return false
}

// writeLinks writes, before a fragment's content, the elements its Link
// headers ask for there (stylesheets, preloads), each URL once per page.
func (pw *pageWriter) writeLinks(h http.Header) {
	for _, v := range h["Link"] {
		for _, l := range parseLinks(v) {
			pw.write([]byte(pw.linkTag(l)))
		}
	}
}

// writeLinkScripts writes, after a fragment's content, the scripts its
// Link headers announce (Podium's asset-type=script), each once per page.
func (pw *pageWriter) writeLinkScripts(h http.Header) {
	for _, v := range h["Link"] {
		for _, l := range parseLinks(v) {
			if strings.EqualFold(l.params["asset-type"], "script") && assetURL(l.href) {
				sc, ok := linkScript(l)
				if ok && pw.asset("js", l.href) {
					pw.write([]byte(scriptTag(l.href, sc)))
				}
			}
		}
	}
}

// linkScript reads a script link's attributes; ok is false for a type
// that is not JavaScript (Podium's "default" and "esm" are classic and
// module).
func linkScript(l link) (registry.Script, bool) {
	sc := registry.Script{Async: l.flag("async"), Defer: l.flag("defer"), Crossorigin: l.crossorigin(), Integrity: l.params["integrity"]}
	switch t := strings.ToLower(l.params["type"]); t {
	case "", "default", "text/javascript", "application/javascript":
	case "module", "esm":
		sc.Type = "module"
	default:
		return sc, false
	}
	return sc, true
}

// linkTag is the element written before the content for one link, or ""
// for a link that asks for none there (or whose URL the page has).
func (pw *pageWriter) linkTag(l link) string {
	if !assetURL(l.href) {
		return ""
	}
	rel := strings.ToLower(l.params["rel"])
	switch at := strings.ToLower(l.params["asset-type"]); {
	case at == "style":
		rel = "stylesheet"
	case at != "":
		return "" // a script (after the content), or a type we do not know
	}
	var b strings.Builder
	switch rel {
	case "stylesheet":
		if !pw.asset("css", l.href) {
			return ""
		}
		b.WriteString(`<link rel="stylesheet" href="` + html.EscapeString(l.href) + `"`)
	case "preload", "modulepreload":
		if !pw.asset(rel, l.href) {
			return ""
		}
		b.WriteString(`<link rel="` + rel + `" href="` + html.EscapeString(l.href) + `"`)
		if as := strings.ToLower(l.params["as"]); as != "" && rel == "preload" {
			b.WriteString(` as="` + html.EscapeString(as) + `"`)
		}
	default:
		return ""
	}
	if co := l.crossorigin(); co != "" {
		b.WriteString(` crossorigin="` + co + `"`)
	}
	if v := l.params["integrity"]; v != "" {
		b.WriteString(` integrity="` + html.EscapeString(v) + `"`)
	}
	if v := l.params["media"]; v != "" && rel == "stylesheet" {
		b.WriteString(` media="` + html.EscapeString(v) + `"`)
	}
	b.WriteString(">")
	return b.String()
}

// scriptTag is a <script src> with sc's attributes, inert, and the
// activator that makes it live (package inert): under a 'strict-dynamic'
// policy a parser-inserted <script src> would not run.
func scriptTag(src string, sc registry.Script) string {
	var b strings.Builder
	b.WriteString(`<script type="` + inert.Type + `"`)
	if sc.Type == "module" {
		b.WriteString(` ` + inert.TypeAttr + `="module"`)
	}
	b.WriteString(` src="` + html.EscapeString(src) + `"`)
	if sc.Async {
		b.WriteString(` async`)
	}
	if sc.Defer {
		b.WriteString(` defer`)
	}
	if sc.Crossorigin != "" {
		b.WriteString(` crossorigin="` + html.EscapeString(sc.Crossorigin) + `"`)
	}
	if sc.Integrity != "" {
		b.WriteString(` integrity="` + html.EscapeString(sc.Integrity) + `"`)
	}
	b.WriteString(`></script>` + inert.Tag)
	return b.String()
}

// asset reports whether the page has not written kind's URL u yet, and
// marks it written: a script or a stylesheet appears once per page.
func (pw *pageWriter) asset(kind, u string) bool {
	if pw.assets == nil {
		pw.assets = map[string]bool{}
	}
	k := kind + " " + u
	if pw.assets[k] {
		return false
	}
	pw.assets[k] = true
	return true
}
