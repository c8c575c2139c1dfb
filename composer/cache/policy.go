package cache

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// CacheControl is a parsed Cache-Control header; -1 means absent.
type CacheControl struct {
	MaxAge, SMaxAge, StaleWhileRevalidate, StaleIfError time.Duration
	NoStore, NoCache, Private                           bool
	// Public and MustRevalidate are set by the plain directive only. Given
	// an argument, which they do not take (public="", must-revalidate=1),
	// or given both plain and with one, they count as absent: they are the
	// directives that let a shared cache keep an answer to a request with
	// credentials (§3.5), and a malformed one grants nothing.
	Public, MustRevalidate bool
	// Revalidate is must-revalidate (§5.2.2.2) or proxy-revalidate
	// (§5.2.2.8, for shared caches), in any form: once stale, the answer is
	// not served without asking the origin (no stale-while-revalidate, no
	// stale-if-error). proxy-revalidate grants nothing under §3.5.
	Revalidate bool
	// Malformed: a line does not parse as a directive list (§5.2:
	// token [ "=" ( token / quoted-string ) ], separated by commas with
	// optional spaces and tabs, empty elements allowed). What it says
	// cannot be trusted (an unterminated quote or a stray one hides the
	// directives after it), so it is never permission to share or store.
	Malformed bool
	// sMaxAgeValid: s-maxage is given with a valid delta, the same value
	// every time. An invalid one is stale at once and grants nothing.
	sMaxAgeValid bool
}

// cutDirective cuts one Cache-Control line at its first comma outside a
// quoted string (§5.2: an argument may be a quoted-string, which may hold
// commas and escaped quotes): the first directive, and the rest of the
// line after the comma.
func cutDirective(v string) (directive, rest string) {
	quoted, escaped := false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return v[:i], v[i+1:]
		}
	}
	return v, ""
}

// directiveNames are the directives ParseCacheControl reads.
var directiveNames = [...]string{"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error", "no-store",
	"no-cache", "private", "public", "must-revalidate", "proxy-revalidate"}

// directiveName is name as it appears in directiveNames (names are
// case-insensitive), or "" for one ParseCacheControl does not read. Every
// fragment answer is parsed: no allocation, as strings.ToLower would make
// for a name in capitals.
func directiveName(name string) string {
	for _, d := range directiveNames {
		if len(d) == len(name) && strings.EqualFold(d, name) {
			return d
		}
	}
	return ""
}

// wellFormed reports whether v, one Cache-Control line, parses as a
// directive list (§5.2; lists as RFC 9110 §5.6.1 has them): elements
// token [ "=" ( token / quoted-string ) ], separated by commas with
// optional spaces and tabs around them, empty elements allowed.
func wellFormed(v string) bool {
	i := 0
	for {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
			i++
		}
		if i == len(v) {
			return true
		}
		if i = token(v, i); i < 0 {
			return false
		}
		if i < len(v) && v[i] == '=' {
			if i+1 < len(v) && v[i+1] == '"' {
				i = quotedString(v, i+1)
			} else {
				i = token(v, i+1)
			}
			if i < 0 {
				return false
			}
		}
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		if i < len(v) && v[i] != ',' {
			return false
		}
	}
}

// token returns the end of the token (RFC 9110 §5.6.2) that starts at
// v[i], or -1 if none does.
func token(v string, i int) int {
	j := i
	for j < len(v) && (v[j] >= 'a' && v[j] <= 'z' || v[j] >= 'A' && v[j] <= 'Z' || v[j] >= '0' && v[j] <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", v[j]) >= 0) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// quotedString returns the end of the quoted-string (RFC 9110 §5.6.4)
// that starts at v[i], a '"', or -1 if it is not one or is not closed.
func quotedString(v string, i int) int {
	for i++; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i++; i == len(v) || v[i] < ' ' && v[i] != '\t' || v[i] == 0x7f {
				return -1
			}
		case c < ' ' && c != '\t' || c == 0x7f:
			return -1
		}
	}
	return -1
}

// maxDelta is what a delta-seconds too large to hold is taken as (§1.2.2).
const maxDelta = 2147483648

// parseDelta reads a delta-seconds (§1.2.2: one or more digits); one
// greater than maxDelta is maxDelta. ok is false for anything else.
func parseDelta(s string) (d time.Duration, ok bool) {
	if s == "" {
		return 0, false
	}
	n := int64(0)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		if n <= maxDelta {
			n = n*10 + int64(s[i]-'0')
		}
	}
	return time.Duration(min(n, maxDelta)) * time.Second, true
}

// ParseCacheControl reads the Cache-Control directives of h (RFC 9111
// §5.2). Names are case-insensitive; an argument may be quoted, and a
// quoted argument may hold commas. A delta that is not a number, or a
// directive given twice with different values, counts as 0: stale at once
// (§1.2.2, §4.2.1); one too large to hold is 2147483648 s (§1.2.2). The qualified forms private="..." and no-cache="..."
// count as their plain forms, which is stricter than the RFC asks. A
// directive that takes no argument but is given one is read in the safe
// direction: public and must-revalidate grant nothing (see CacheControl),
// no-store, no-cache, private and the revalidate directives still apply.
// A line that does not parse as a directive list sets Malformed, and
// Decide stores nothing then.
func ParseCacheControl(h http.Header) CacheControl {
	cc := CacheControl{MaxAge: -1, SMaxAge: -1, StaleWhileRevalidate: -1, StaleIfError: -1}
	set := func(dst *time.Duration, arg string) bool {
		if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
			arg = arg[1 : len(arg)-1]
		}
		d, ok := parseDelta(arg)
		if *dst >= 0 && *dst != d {
			d, ok = 0, false
		}
		*dst = d
		return ok
	}
	sMaxAgeBad := false
	var public, publicBad, mustRevalidate, mustRevalidateBad bool
	for _, v := range h["Cache-Control"] {
		if !wellFormed(v) {
			cc.Malformed = true
		}
		for rest := v; rest != ""; {
			var d string
			d, rest = cutDirective(rest)
			name, arg, hasArg := strings.Cut(strings.TrimSpace(d), "=")
			switch directiveName(strings.TrimSpace(name)) {
			case "max-age":
				set(&cc.MaxAge, arg)
			case "s-maxage":
				if !set(&cc.SMaxAge, arg) {
					sMaxAgeBad = true
				}
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
				public, publicBad = true, publicBad || hasArg
			case "must-revalidate":
				mustRevalidate, mustRevalidateBad = true, mustRevalidateBad || hasArg
				cc.Revalidate = true
			case "proxy-revalidate":
				cc.Revalidate = true
			}
		}
	}
	cc.Public = public && !publicBad
	cc.MustRevalidate = mustRevalidate && !mustRevalidateBad
	cc.sMaxAgeValid = cc.SMaxAge >= 0 && !sMaxAgeBad
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
	// Age is the answer's Age header (§5.1): how old it already was when
	// it arrived. Its current age is Age plus the time since (§4.2.3).
	Age time.Duration
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
//     of more than nothing is reusable, and only while its current age,
//     which starts from its Age header (§4.2.3, §5.1), is within it or its
//     stale windows; no-store (§5.2.2.5) and no-cache
//     (§5.2.2.4: we never revalidate) make it not reusable at all, and so
//     does a Cache-Control that does not parse (it may hide either, or
//     private: when in doubt, do not store);
//   - private (§5.2.2.7), Set-Cookie (§7.3's warning made a rule) and
//     Vary: * (§4.1) make it personal;
//   - must-revalidate and proxy-revalidate (§5.2.2.2, §5.2.2.8) close the
//     stale-while-revalidate and stale-if-error windows;
//   - a request with Authorization is answered for everyone only if the
//     answer says public, s-maxage or must-revalidate (§3.5; not
//     proxy-revalidate), one with a forwarded Cookie only if it says public
//     or s-maxage (our rule: the cache key has no Cookie). Only a
//     well-formed directive counts: public=..., must-revalidate=... and an
//     invalid s-maxage grant nothing.
func Decide(req *fetch.Request, status int, h http.Header) Decision {
	var d Decision
	if status != http.StatusOK {
		return d
	}
	cc := ParseCacheControl(h)
	if cc.NoStore || cc.NoCache || cc.Malformed {
		return d
	}
	d.Age = ageHeader(h)
	switch {
	case cc.SMaxAge >= 0:
		d.Lifetime = cc.SMaxAge
	case cc.MaxAge >= 0:
		d.Lifetime = cc.MaxAge
	}
	if !cc.Revalidate {
		d.SWR, d.SIE = max(cc.StaleWhileRevalidate, 0), max(cc.StaleIfError, 0)
	}
	d.forAuthorization = cc.Public || cc.sMaxAgeValid || cc.MustRevalidate
	d.forCookie = cc.Public || cc.sMaxAgeValid
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
	if cc.SMaxAge < 0 && cc.MaxAge < 0 || d.Lifetime+d.SWR+d.SIE <= d.Age {
		return d
	}
	if !d.usableFor(req) {
		d.Private = true
		return d
	}
	d.Shared = true
	return d
}

// ageHeader reads h's Age (§5.1): of a list, or of several lines, the
// first member; an invalid one is ignored (0).
func ageHeader(h http.Header) time.Duration {
	v := h.Values("Age")
	if len(v) == 0 {
		return 0
	}
	first, _, _ := strings.Cut(v[0], ",")
	age, ok := parseDelta(strings.TrimSpace(first))
	if !ok {
		return 0
	}
	return age
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
