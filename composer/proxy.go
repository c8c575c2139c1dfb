package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
)

// newProxy serves prefix (ending in "/") from target, as a CDN behaviour
// would. The path is decoded and cleaned before it goes on: one that
// leaves prefix, however it is spelt ("..", "%2e%2e", "..%2f", backslashes,
// the same encoded twice), gets 400 and never reaches target.
func newProxy(prefix string, target *url.URL) http.Handler {
	rp := httputil.NewSingleHostReverseProxy(target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clean, ok := proxyPath(prefix, r.URL.Path)
		if !ok {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return
		}
		r = r.Clone(r.Context())
		r.URL.Path, r.URL.RawPath = clean, ""
		rp.ServeHTTP(w, r)
	})
}

// proxyPath cleans p, a request's decoded path, and reports whether it
// stays under prefix, both as it is and decoded once more (for a target
// that decodes again). A backslash or a control character is refused
// outright: some servers take "\" for "/".
func proxyPath(prefix, p string) (string, bool) {
	clean, ok := cleanUnder(prefix, p)
	if !ok {
		return "", false
	}
	if again, err := url.PathUnescape(p); err == nil && again != p {
		if _, ok := cleanUnder(prefix, again); !ok {
			return "", false
		}
	}
	return clean, true
}

// cleanUnder resolves the dot segments of p (keeping a trailing slash) and
// reports whether the result is under prefix.
func cleanUnder(prefix, p string) (string, bool) {
	if strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || r < ' ' || r == 0x7f }) {
		return "", false
	}
	clean := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean, strings.HasPrefix(clean, prefix)
}
