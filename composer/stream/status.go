package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
)

// pageStatus maps a failed required fragment to the page's status.
func pageStatus(s *slot) int {
	var rejected *breaker.RejectedError
	switch {
	case errors.Is(s.err, errNotRegistered), errors.As(s.err, &rejected):
		return http.StatusServiceUnavailable
	case errors.Is(s.err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case s.err != nil:
		return http.StatusBadGateway
	case s.status == http.StatusNotFound || s.status == http.StatusGone:
		return s.status
	}
	return http.StatusBadGateway
}

// isRedirect says whether a required fragment redirects the page.
func isRedirect(s *slot) bool {
	switch s.status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return s.header.Get("Location") != ""
	}
	return false
}

// cacheControl folds the caching rules of the answers the page used into
// the page's, from what is known when the header goes out: the required
// fragments' answers, and the answers the cache handed out at once for the
// others (package cache's Decide judges each, its Age header and the time
// it spent in our cache counted). A page is
// as cacheable as its least cacheable part: a part not known yet, or not
// reusable, makes it no-store; a personal part (private, Set-Cookie,
// credentials, Vary: *, Vary on a header the CDN does not key on), or a
// Set-Cookie on the page, makes it private; its s-maxage is the shortest
// freshness left of any part. vary lists the CDN-keyed headers the parts
// vary on, for the page's Vary.
func (pw *pageWriter) cacheControl(setsCookie bool) (cc string, vary []string) {
	ttl := time.Duration(-1)
	private := setsCookie
	for i := range pw.slots {
		s := &pw.slots[i]
		if s.req == nil {
			// Not registered: its fallback is part of the template. (Read
			// req, set before the fetches start, not err: an optional
			// fragment may still be writing err.)
			continue
		}
		var status int
		var header http.Header
		var age time.Duration
		switch {
		case s.frag.Required || s.known: // ready: start (or ServeIsland) waited for it
			status, header, age = s.status, s.header, s.age
		case s.peeked != nil: // set before its fetch started
			status, header, age = s.peeked.Status, s.peeked.Header, s.peeked.Age
		default:
			return "no-store", nil // not known yet (and its fetch may be writing)
		}
		d := cache.Decide(s.req, status, header)
		switch {
		case d.Private:
			private = true
			continue
		case !d.Shared:
			return "no-store", nil
		}
		for _, name := range d.Vary {
			switch {
			case name == fetch.SlotHeader:
				// The template's, the same on every load of the page (and
				// the fragment cache keys on it): nothing the page varies on.
			case strings.HasPrefix(name, "Podium-"):
				// The composer's own (no visitor's Podium header is ever
				// forwarded), from the entry, a constant, the page's path or
				// a header the CDN keys on: the page varies on the latter.
				for _, src := range pw.c.podiumSources(name, s.entry) {
					if !slices.Contains(vary, src) {
						vary = append(vary, src)
					}
				}
			case !pw.c.keyed(name):
				private = true
			case !slices.Contains(vary, name):
				vary = append(vary, name)
			}
		}
		// Its current age: the Age header it arrived with, plus the time
		// our cache held it (RFC 9111 §4.2.3).
		if left := d.Lifetime - d.Age - age; ttl < 0 || left < ttl {
			ttl = left
		}
	}
	switch {
	case private:
		return "private, no-cache", nil
	case ttl < time.Second:
		return "no-store", nil
	}
	return fmt.Sprintf("public, max-age=0, s-maxage=%d", int(ttl/time.Second)), vary
}

// podiumSources lists the visitor's headers the Podium header name's
// value was taken from for entry (podiumHeaders): the CDN keys on each.
// A value from the entry, a constant or the page's path (part of every
// cache key) comes from none.
func (c *Composer) podiumSources(name string, entry *registry.Entry) []string {
	if entry.Podium == nil {
		return nil // not sent: the same absence for every visitor
	}
	var src []string
	switch name {
	case fetch.PodiumLocale:
		if entry.Podium.Locale == "" && c.keyed("Accept-Language") {
			src = append(src, "Accept-Language")
		}
	case fetch.PodiumDeviceType:
		if entry.Podium.DeviceType == "" {
			for _, v := range podiumDevices {
				if c.keyed(v.header) {
					src = append(src, v.header)
				}
			}
		}
	}
	return src
}

// keyed reports whether the CDN keys its cache on the request header name.
func (c *Composer) keyed(name string) bool {
	for _, k := range c.CDNKey {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// errBadLocation is a required fragment's redirect that cannot be the
// page's: not http or https, or a path that a browser would read as
// another host.
var errBadLocation = errors.New("redirect location is not an http(s) URL or a path on this site")

// redirectLocation is the page's Location for a fragment's. A relative
// location ("login", "?a=1", "#top", "") is resolved against page, the
// page's request URL, as the browser would resolve a reference on the
// page: never against the endpoint, whose path and query are internal. An
// absolute (or scheme-relative, taking the endpoint's scheme) location must
// be http or https; on the endpoint's own host (sameHost) it becomes a path
// (never show the browser an internal hostname). The path must start with
// a single "/" ("//x" and "/\x" are other hosts to a browser), and a
// location with a backslash is refused (a browser reads "\\x" as "//x").
// ok is false for anything else.
func redirectLocation(loc, endpoint string, page *url.URL) (string, bool) {
	if strings.Contains(loc, "\\") {
		return "", false
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	e, err := url.Parse(endpoint)
	httpEndpoint := err == nil && (e.Scheme == "http" || e.Scheme == "https") && e.Host != ""
	switch {
	case u.Scheme == "" && u.Host == "" && u.Opaque == "":
		base := &url.URL{Path: "/"}
		if page != nil {
			base = &url.URL{Path: page.Path, RawPath: page.RawPath, RawQuery: page.RawQuery}
		}
		u = base.ResolveReference(u)
	case httpEndpoint:
		u = e.ResolveReference(u) // its scheme if it has none; dot segments resolved
		if sameHost(u, e) {
			u.Scheme, u.Host, u.User = "", "", nil
		}
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		if u.Host == "" || u.Opaque != "" {
			return "", false
		}
		return u.String(), true
	case u.Scheme != "" || u.Host != "" || u.Opaque != "":
		return "", false
	}
	if u.Path == "" {
		u.Path = "/"
	}
	// Checked decoded: "/%2F..." and "/%5C..." are refused too.
	if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path[1:], "/") || strings.HasPrefix(u.Path[1:], "\\") {
		return "", false
	}
	return u.String(), true
}

// sameHost reports whether u (absolute) names the host and port of e, the
// endpoint, compared as a browser would reach them: host names in lower
// case without a trailing dot, IP addresses in one spelling, ports as
// numbers ("019101" is 19101) with the scheme's default, and localhost,
// 127.0.0.1 and [::1] the same host when the endpoint is one of them.
func sameHost(u, e *url.URL) bool {
	h1, p1, ok1 := hostPort(u)
	h2, p2, ok2 := hostPort(e)
	return ok1 && ok2 && h1 == h2 && p1 == p2
}

func hostPort(u *url.URL) (string, int, bool) {
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
		if ip.IsLoopback() {
			h = "localhost"
		}
	}
	if h == "" {
		return "", 0, false
	}
	port := 0
	switch ps := u.Port(); {
	case ps != "":
		n, err := strconv.Atoi(ps)
		if err != nil || n < 0 || n > 65535 {
			return "", 0, false
		}
		port = n
	case u.Scheme == "http":
		port = 80
	case u.Scheme == "https":
		port = 443
	}
	return h, port, true
}

// redirect sends a required fragment's redirect as the page's, with the
// fragment's Set-Cookie if its entry allows it (a login step sets its
// session as it redirects). A redirect is never stored.
func (pw *pageWriter) redirect(s *slot, loc string) {
	h := pw.w.Header()
	h.Set("Location", loc)
	h.Set("Cache-Control", "no-store")
	if s.entry.SetCookie {
		for _, c := range s.header.Values("Set-Cookie") {
			h.Add("Set-Cookie", c)
		}
	}
	pw.w.WriteHeader(s.status)
}
