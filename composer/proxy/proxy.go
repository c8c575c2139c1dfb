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
// would. The path is decoded and cleaned before it goes on: one that
// leaves prefix, however it is spelt ("..", "%2e%2e", "..%2f", "..;",
// backslashes, overlong UTF-8, the same encoded up to four times), gets 400
// and never reaches target. Its errors go to log, with the request id.
func New(prefix string, target *url.URL, log *slog.Logger) http.Handler {
	rp := httputil.NewSingleHostReverseProxy(target)
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
//   - a segment with path parameters is a dot segment once they are
//     removed ("..;", "..;jsessionid=1": Tomcat, Jetty and Spring read
//     them as "..");
//   - cleaned, it leaves prefix; and, decoded once more than the request,
//     it holds ".." at all.
func proxyPath(prefix, p string) (string, bool) {
	clean, ok := cleanUnder(prefix, p)
	if !ok {
		return "", false
	}
	for i := 0; ; i++ {
		if !utf8.ValidString(p) || dotParams(p) {
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

// dotParams reports whether a segment of p is "." or ".." followed by path
// parameters (";...").
func dotParams(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if name, _, params := strings.Cut(seg, ";"); params && (name == "." || name == "..") {
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
