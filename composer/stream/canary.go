package stream

import (
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/ssr-mfe/composer/composer/internal/forwarded"
	"github.com/ssr-mfe/composer/composer/registry"
)

// CanaryCookiePrefix starts the name of the cookie that keeps a visitor on
// the version of a fragment first chosen for them: "mfe-v-<id>".
const CanaryCookiePrefix = "mfe-v-"

// canaryMaxAge is how long a visitor keeps their version: 30 days.
const canaryMaxAge = 30 * 24 * 60 * 60

// canaryState is one page's version choices.
type canaryState struct {
	chosen  map[string]string // fragment id -> version, so a page with two slots of one id agrees
	cookies []*http.Cookie    // to set: visitors new to a version
	used    bool              // the page depends on a version choice
}

// CanaryCookie names the cookie for fragment id.
func CanaryCookie(id string) string {
	return CanaryCookiePrefix + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '.'
	}, id)
}

// choose returns the version and endpoint of entry for this visitor,
// sticky through a cookie the composer sets.
func (c *canaryState) choose(r *http.Request, id string, e *registry.Entry) (version, endpoint string) {
	c.used = true
	if v, ok := c.chosen[id]; ok {
		name, ep, _ := e.Choose(v, 0)
		return name, ep
	}
	name := CanaryCookie(id)
	current := ""
	if ck, err := r.Cookie(name); err == nil {
		current = ck.Value
	}
	version, endpoint, kept := e.Choose(current, rand.IntN(100))
	if c.chosen == nil {
		c.chosen = map[string]string{}
	}
	c.chosen[id] = version
	if !kept {
		c.cookies = append(c.cookies, &http.Cookie{
			Name: name, Value: version, Path: "/", MaxAge: canaryMaxAge,
			HttpOnly: true, SameSite: http.SameSiteLaxMode,
			Secure: forwarded.Secure(r),
		})
	}
	return version, endpoint
}

// writeHeaders sets the version cookies, and keeps a page whose content
// depends on them out of shared caches.
func (c *canaryState) writeHeaders(h http.Header) {
	for _, ck := range c.cookies {
		h.Add("Set-Cookie", ck.String())
	}
	if c.used {
		h.Set("Cache-Control", "private")
		h.Add("Vary", "Cookie")
	}
}
