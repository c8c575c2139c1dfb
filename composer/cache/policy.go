package cache

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// CacheControl is a parsed Cache-Control header; -1 means absent.
type CacheControl struct {
	MaxAge, SMaxAge, StaleWhileRevalidate, StaleIfError time.Duration
	NoStore, NoCache, Private, Public, MustRevalidate   bool
}

// ParseCacheControl reads the Cache-Control directives of h (RFC 9111
// §5.2). Names are case-insensitive; an argument may be quoted. A delta
// that is not a number, or a directive given twice with different
// values, counts as 0: stale at once (§1.2.2, §4.2.1). The qualified
// forms private="..." and no-cache="..." count as their plain forms, which
// is stricter than the RFC asks.
func ParseCacheControl(h http.Header) CacheControl {
	cc := CacheControl{MaxAge: -1, SMaxAge: -1, StaleWhileRevalidate: -1, StaleIfError: -1}
	set := func(dst *time.Duration, arg string) {
		d := time.Duration(0)
		n, err := strconv.Atoi(strings.Trim(arg, `"`))
		if err == nil && n >= 0 {
			d = time.Duration(n) * time.Second
		}
		if *dst >= 0 && *dst != d {
			d = 0
		}
		*dst = d
	}
	for _, v := range h["Cache-Control"] {
		for v != "" {
			var d string
			d, v, _ = strings.Cut(v, ",")
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "max-age":
				set(&cc.MaxAge, arg)
			case "s-maxage":
				set(&cc.SMaxAge, arg)
			case "stale-while-revalidate":
				set(&cc.StaleWhileRevalidate, arg)
			case "stale-if-error":
				set(&cc.StaleIfError, arg)
			case "no-store":
				cc.NoStore = true
			case "no-cache":
				cc.NoCache = true
			case "private":
				cc.Private = true
			case "public":
				cc.Public = true
			case "must-revalidate", "proxy-revalidate":
				cc.MustRevalidate = true
			}
		}
	}
	return cc
}

// Decision is what the rules make of one fragment answer to one request,
// from the point of view of a shared cache. It is the same for the
// fragment cache (may it store and reuse the answer?) and for the page
// (may the CDN keep a page that used it?).
type Decision struct {
	// Shared: a shared cache may store the answer and reuse it for
	// requests with the same query and the same values of Vary's headers.
	Shared bool
	// Private: personal (private, Set-Cookie, credentials, Vary: *). A
	// browser may keep it, a shared cache may not. When neither Shared nor
	// Private, nobody may reuse it without asking again.
	Private bool
	// Lifetime is its freshness lifetime (s-maxage, else max-age); SWR and
	// SIE its stale-while-revalidate and stale-if-error windows.
	Lifetime, SWR, SIE time.Duration
	// Vary lists the request headers it varies on, canonical and sorted,
	// without Accept-Encoding (fragments are fetched without compression).
	Vary []string
	// forAuthorization: it may be reused for a request with Authorization
	// (public, s-maxage or must-revalidate); forCookie: for a request with
	// a forwarded Cookie (public or s-maxage).
	forAuthorization, forCookie bool
}

// Decide applies the caching rules to an answer (status, header) to req:
//
//   - only 200 with an explicit lifetime (s-maxage, else max-age: §4.2.1)
//     of more than nothing is reusable; no-store (§5.2.2.5) and no-cache
//     (§5.2.2.4: we never revalidate) make it not reusable at all;
//   - private (§5.2.2.7), Set-Cookie (§7.3's warning made a rule) and
//     Vary: * (§4.1) make it personal;
//   - a request with Authorization is answered for everyone only if the
//     answer says public, s-maxage or must-revalidate (§3.5), one with a
//     forwarded Cookie only if it says public or s-maxage (our rule: the
//     cache key has no Cookie).
func Decide(req *fetch.Request, status int, h http.Header) Decision {
	var d Decision
	if status != http.StatusOK {
		return d
	}
	cc := ParseCacheControl(h)
	if cc.NoStore || cc.NoCache {
		return d
	}
	switch {
	case cc.SMaxAge >= 0:
		d.Lifetime = cc.SMaxAge
	case cc.MaxAge >= 0:
		d.Lifetime = cc.MaxAge
	}
	d.SWR, d.SIE = max(cc.StaleWhileRevalidate, 0), max(cc.StaleIfError, 0)
	d.forAuthorization = cc.Public || cc.SMaxAge >= 0 || cc.MustRevalidate
	d.forCookie = cc.Public || cc.SMaxAge >= 0
	if cc.Private || len(h["Set-Cookie"]) > 0 {
		d.Private = true
		return d
	}
	for _, v := range h["Vary"] {
		for v != "" {
			var n string
			n, v, _ = strings.Cut(v, ",")
			n = http.CanonicalHeaderKey(strings.TrimSpace(n))
			switch n {
			case "*":
				d.Private, d.Vary = true, nil
				return d
			case "", "Accept-Encoding":
			default:
				d.Vary = append(d.Vary, n)
			}
		}
	}
	sort.Strings(d.Vary)
	if cc.SMaxAge < 0 && cc.MaxAge < 0 || d.Lifetime+d.SWR+d.SIE <= 0 {
		return d
	}
	if !d.usableFor(req) {
		d.Private = true
		return d
	}
	d.Shared = true
	return d
}

// usableFor reports whether an answer with these rules may be used for
// req's credentials (§3.5 and our Cookie rule).
func (d *Decision) usableFor(req *fetch.Request) bool {
	if req == nil {
		return true
	}
	if len(req.Header["Authorization"]) > 0 && !d.forAuthorization {
		return false
	}
	if len(req.Header["Cookie"]) > 0 && !d.forCookie {
		return false
	}
	return true
}
