package stream

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
)

// prepare sets up slot i of page p for request r: its fragment, entry,
// version and readiness channel, and returns its fragment request, which
// is part of the slot (nil when the id is not registered: s.err says
// so). The page and an island request (ServeIsland) share it, so that an
// island's fragment gets what the slot would have had server-side.
//
// shared, when not nil, is where the page keeps the Header its slots'
// requests share: an entry with no forward list and no Podium context
// sends the page's headers as every other such entry does, and its slot
// goes apart (fetch.Request's Slot).
func (c *Composer) prepare(r *http.Request, p *Page, i int, s *slot, mode *pageMode, canary *canaryState, rawQuery string, shared *http.Header) *fetch.Request {
	s.frag = &p.Template.Slots[i]
	s.index = i
	entry, ok := c.Registry.Ref(s.frag.ID)
	if !ok {
		s.entry = &noEntry
		s.err = errNotRegistered
		if c.Observer != nil {
			c.Observer.Fragment(s.frag.ID, "", "unregistered", 0)
		}
		return nil
	}
	s.entry = entry
	endpoint, loader := entry.Endpoint, string(s.frag.Loader)
	// An override keeps the entry's policies (headers, cookies,
	// timeout) but not its endpoint nor its canary versions.
	preview, overridden := mode.override(s.frag.ID)
	switch {
	case overridden:
		s.version, endpoint, loader = OverrideVersion, preview, ""
	case len(entry.Versions) > 0:
		s.version, endpoint = canary.choose(r, s.frag.ID, entry)
	}
	if mode.debug {
		s.dbg = &slotDebug{}
	}
	s.request = fetch.Request{
		Endpoint:   endpoint,
		Loader:     loader,
		Path:       r.URL.Path,
		RawQuery:   fragmentQuery(endpoint, rawQuery),
		PathParams: p.Params,
		Header:     c.fragmentHeaders(r, p, entry, shared),
		Slot:       fetch.SlotValue(i),
		// The circuit breaker and bulkhead key (package breaker, behind
		// the cache in c.Fetch).
		Fragment: s.frag.ID,
		Version:  s.version,
		Override: overridden,
	}
	return &s.request
}

// noEntry is an unregistered slot's entry: nothing set.
var noEntry registry.Entry

// fragmentHeaders are the headers a slot's request carries (its slot
// apart): what fetch.Headers lets through, and Podium's context. An entry
// with neither a forward list nor Podium gets the page's shared Header,
// made once.
func (c *Composer) fragmentHeaders(r *http.Request, p *Page, entry *registry.Entry, shared *http.Header) http.Header {
	plain := len(entry.ForwardHeaders) == 0 && entry.Podium == nil
	if plain && shared != nil && *shared != nil {
		return *shared
	}
	h := fetch.Headers(r.Header, p.RequestID, entry.ForwardHeaders)
	if pod := entry.Podium; pod != nil {
		c.podiumHeaders(h, r, p, pod)
	}
	if plain && shared != nil {
		*shared = h
	}
	return h
}

// podiumHeaders sets Podium's context for an entry that asks for it, from
// what the CDN sees only: the entry's values, the request headers the CDN
// keys on, the public origin setting and (when the entry asks) the path.
func (c *Composer) podiumHeaders(h http.Header, r *http.Request, p *Page, pod *registry.Podium) {
	locale := pod.Locale
	if locale == "" && c.keyed("Accept-Language") {
		if first := firstLanguage(r.Header.Values("Accept-Language")); registry.ValidLocale(first) {
			locale = first
		}
	}
	if locale == "" {
		locale = "en-US"
	}
	device := pod.DeviceType
	if device == "" {
		device = "desktop"
		for _, v := range podiumDevices {
			if c.keyed(v.header) && r.Header.Get(v.header) == "true" {
				device = v.device
				break
			}
		}
	}
	public := pod.PublicPathname
	if public == "" {
		public = "/"
	}
	h[fetch.PodiumLocale] = []string{locale}
	h[fetch.PodiumDeviceType] = []string{device}
	h[fetch.PodiumPublicPathname] = []string{public}
	if c.PublicOrigin != "" {
		h[fetch.PodiumMountOrigin] = []string{c.PublicOrigin}
	}
	if p.Template != nil && p.Template.Name != "" && !strings.ContainsFunc(p.Template.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		h[fetch.PodiumRequestedBy] = []string{p.Template.Name}
	}
	if pod.MountPathname {
		// Escaped: a decoded path may hold any byte, a header may not.
		h[fetch.PodiumMountPathname] = []string{r.URL.EscapedPath()}
	}
}

// firstLanguage is the first language Accept-Language names, across all
// its lines (a list: lines are joined by commas), without its weight;
// empty members are skipped, as a CDN that folds the lines drops them.
func firstLanguage(lines []string) string {
	for _, line := range lines {
		for member := range strings.SplitSeq(line, ",") {
			member, _, _ = strings.Cut(member, ";")
			if member = strings.TrimSpace(member); member != "" {
				return member
			}
		}
	}
	return ""
}

// podiumDevices are CloudFront's viewer headers podium-device-type is
// read from, when the CDN keys on them, in order.
var podiumDevices = []struct{ header, device string }{
	{"Cloudfront-Is-Mobile-Viewer", "mobile"}, {"Cloudfront-Is-Tablet-Viewer", "tablet"},
}

// pageQuery is the query string every fragment of the page receives: the
// page's own query with the route parameters set on it, re-encoded. A
// page parameter whose name reads as a route parameter's or as
// DebugParam (paramName) is dropped. The query is parsed as Go does
// except that a ";" is part of a value, and written out again, so a ";"
// is always %3B: a fragment whose framework splits pairs on ";" finds no
// pair the composer did not see. A pair that does not decode is dropped.
func pageQuery(u *url.URL, params map[string]string) string {
	if u.RawQuery == "" && len(params) == 0 {
		return ""
	}
	route := map[string]bool{}
	for k := range params {
		route[paramName(k)] = true
	}
	q := url.Values{}
	for pair := range strings.SplitSeq(u.RawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || route[paramName(k)] || paramName(k) == DebugParam {
			continue
		}
		q[k] = append(q[k], v)
	}
	for k, v := range params {
		q.Set(k, v)
	}
	return q.Encode()
}

// fragmentQuery is the query a fragment receives after its endpoint's
// own: pageQuery's, less every name that reads as one the endpoint's query
// already sets (paramName). The precedence is the entry's own parameters,
// then the route parameters, then the page's query; a lower one of the
// same name is dropped, never appended. (A function endpoint has no query:
// its event carries pageQuery as it is.)
func fragmentQuery(endpoint, pageQuery string) string {
	_, own, ok := strings.Cut(endpoint, "?")
	if !ok || own == "" || pageQuery == "" {
		return pageQuery
	}
	own, _, _ = strings.Cut(own, "#")
	fixed := map[string]bool{}
	for pair := range strings.FieldsFuncSeq(own, func(r rune) bool { return r == '&' || r == ';' }) {
		fixed[paramName(queryName(pair))] = true
	}
	var b strings.Builder
	for pair := range strings.SplitSeq(pageQuery, "&") {
		if pair == "" || fixed[paramName(queryName(pair))] {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// queryName is the decoded name of one name=value pair of a query.
func queryName(pair string) string {
	name, _, _ := strings.Cut(pair, "=")
	if n, err := url.QueryUnescape(name); err == nil {
		return n
	}
	return name
}

// paramName is a parameter's name as the laxest framework may read it:
// lower case, without the spaces and control characters (NUL included)
// around it, and without a trailing [...] (PHP and Rails read tenant[] and
// tenant[a] as tenant).
func paramName(name string) string {
	trim := func(s string) string {
		return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	}
	name = trim(name)
	if i := strings.IndexByte(name, '['); i >= 0 && strings.HasSuffix(name, "]") {
		name = trim(name[:i])
	}
	return strings.ToLower(name)
}
