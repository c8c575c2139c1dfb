package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/ssr-mfe/composer/composer/internal/forwarded"
	"github.com/ssr-mfe/composer/composer/override"
)

// rewriteTo is a COMPOSER_PROXY's rewrite of the visitor's request for
// target, as a CDN passes a request to an origin: the Host is target's
// (the visitor's goes in X-Forwarded-Host); X-Forwarded-For is the
// chain the front began followed by the composer's peer; X-Forwarded-Proto
// is https when the visitor came over HTTPS (to the composer or to the
// front: forwarded.Secure). Cookie and Authorization pass, but the
// override token (the Mfe-Override header and the mfe-override cookie)
// never leaves the composer.
func rewriteTo(target *url.URL) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
		if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			pr.Out.Header.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+pr.Out.Header.Get("X-Forwarded-For"))
		}
		if forwarded.Secure(pr.In) {
			pr.Out.Header.Set("X-Forwarded-Proto", "https")
		}
		pr.Out.Header.Del(override.Header)
		dropCookie(pr.Out.Header, override.Cookie)
	}
}

// dropCookie removes the cookies called name from h's Cookie headers,
// keeping the others as they were sent, and the header only if one is left.
func dropCookie(h http.Header, name string) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		var pairs []string
		for pair := range strings.SplitSeq(line, ";") {
			n, _, _ := strings.Cut(pair, "=")
			if strings.TrimSpace(n) != name && strings.TrimSpace(pair) != "" {
				pairs = append(pairs, strings.TrimSpace(pair))
			}
		}
		if len(pairs) > 0 {
			kept = append(kept, strings.Join(pairs, "; "))
		}
	}
	h.Del("Cookie")
	for _, line := range kept {
		h.Add("Cookie", line)
	}
}
