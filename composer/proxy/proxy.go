// Package proxy serves the paths of COMPOSER_PROXY from other services, as
// CDN behaviours would route them, with every path cleaned first.
package proxy

import (
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/ssr-mfe/composer/composer/server"
)

// New serves prefix (ending in "/") from target, as a CDN behaviour
// would (rewriteTo says what target is told). The path is decoded and cleaned before it goes on: one that
// leaves prefix, however it is spelt ("..", "%2e%2e", "..%2f", "..;",
// backslashes, overlong UTF-8, the same encoded up to four times), gets 400
// and never reaches target. Its errors go to log, with the request id.
func New(prefix string, target *url.URL, log *slog.Logger) http.Handler {
	rp := &httputil.ReverseProxy{Rewrite: rewriteTo(target)}
	rp.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		log.Warn("proxy error: the target did not answer", slog.String("request_id", server.RequestID(r.Context())),
			slog.String("path", r.URL.Path), slog.String("target", target.Host), slog.String("error", err.Error()))
		w.WriteHeader(http.StatusBadGateway)
	}
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

// maxDecodes bounds how many more times proxyPath decodes a path, for
// targets (or layers in front of them) that decode again.
const maxDecodes = 4

// proxyPath cleans p, a request's decoded path, and reports whether it may
// go on. It is refused if, as it is or decoded again (up to maxDecodes
// times, for a target that decodes again):
//   - it is not valid UTF-8 ("%c0%ae" is an overlong "."), or holds a
//     backslash (some servers take it for "/") or a control character;
//   - a segment with path parameters, a query or a fragment is a dot
//     segment once they are cut off ("..;", "..;jsessionid=1": Tomcat,
//     Jetty and Spring read them as ".."; "..%3F", "..%23": a hop that
//     re-sends the decoded path asks for "..");
//   - cleaned, it leaves prefix; and, decoded once more than the request,
//     it holds ".." at all, or a segment "." (however cut, as above).
//
// The request's own dot segments, as the client decoded them, are
// resolved, and the result is refused only if it leaves prefix; "..." and
// "..foo" are ordinary names.
func proxyPath(prefix, p string) (string, bool) {
	clean, ok := cleanUnder(prefix, p)
	if !ok {
		return "", false
	}
	for i := 0; ; i++ {
		if !utf8.ValidString(p) || dotSegment(p, i > 0) {
			return "", false
		}
		if i > 0 {
			if _, ok := cleanUnder(prefix, p); !ok || strings.Contains(p, "..") {
				return "", false
			}
		}
		if i == maxDecodes {
			return clean, true
		}
		again, err := url.PathUnescape(p)
		if err != nil || again == p {
			return clean, true
		}
		p = again
	}
}

// dotSegment reports whether a segment of p is "." or ".." once cut at
// its first ";" (path parameters), "?" or "#"; without such a cut, only
// when plain (a segment decoded again, which no cleaning has resolved).
func dotSegment(p string, plain bool) bool {
	for seg := range strings.SplitSeq(p, "/") {
		i := strings.IndexAny(seg, ";?#")
		if i < 0 && !plain {
			continue
		}
		if i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
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
