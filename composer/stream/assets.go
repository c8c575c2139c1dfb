package stream

import (
	"bytes"
	"html"
	"strings"

	"github.com/ssr-mfe/composer/composer/registry"
)

// pageAssets lists the page's declared assets, each once, in slot order.
func (pw *pageWriter) pageAssets() (css, js []string) {
	seen := map[string]bool{}
	for i := range pw.slots {
		a := pw.slots[i].entry.Assets
		for _, u := range a.CSS {
			if !seen[u] {
				seen[u] = true
				css = append(css, u)
			}
		}
		for _, u := range a.JS {
			if !seen[u] {
				seen[u] = true
				js = append(js, u)
			}
		}
	}
	return css, js
}

func (pw *pageWriter) preloadHeader() string {
	css, js := pw.pageAssets()
	var b strings.Builder
	for _, u := range css {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("<" + u + ">; rel=preload; as=style")
	}
	for _, u := range js {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		sc := pw.script(u)
		if sc.Type == "module" {
			// A module preloaded as a classic script would be fetched
			// twice (another request mode).
			b.WriteString("<" + u + ">; rel=modulepreload")
		} else {
			b.WriteString("<" + u + ">; rel=preload; as=script")
		}
		if sc.Crossorigin != "" {
			b.WriteString("; crossorigin=" + sc.Crossorigin)
		}
	}
	return b.String()
}

// script is how the registry asks for script u to be loaded (the first
// entry of the page that gives it attributes); a classic script, deferred,
// when none does.
func (pw *pageWriter) script(u string) registry.Script {
	for i := range pw.slots {
		if sc, ok := pw.slots[i].entry.Assets.Scripts[u]; ok {
			return sc
		}
	}
	return registry.Script{Defer: true}
}

func (pw *pageWriter) writeAssets() {
	css, js := pw.pageAssets()
	var b bytes.Buffer
	for _, u := range css {
		pw.asset("css", u)
		b.WriteString(`<link rel="stylesheet" href="` + html.EscapeString(u) + `">` + "\n")
	}
	for _, u := range js {
		pw.asset("js", u)
		b.WriteString(scriptTag(u, pw.script(u)) + "\n")
	}
	pw.write(b.Bytes())
}
