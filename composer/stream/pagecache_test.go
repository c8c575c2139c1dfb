package stream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
)

// withCache puts a fragment cache in front of e's transport.
func withCache(e *env) *cache.Cache {
	c := cache.New(e.composer.Fetch, 1<<20, nil)
	e.t.Cleanup(c.Wait)
	e.composer.Fetch = c
	return c
}

// shared reports whether a page's Cache-Control lets a shared cache keep it.
func shared(cc string) bool {
	return strings.Contains(cc, "public") || strings.Contains(cc, "s-maxage")
}

// A fragment whose entry forwards Authorization answers max-age=60: the
// next visitor, with another token, gets their own content, and no page
// that used such an answer is shared (RFC 9111 §3.5).
func TestPageWithAuthorizationFragmentIsNotShared_RFC9111_3_5(t *testing.T) {
	t.Parallel()
	for _, required := range []bool{true, false} {
		t.Run(fmt.Sprintf("required=%v", required), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			withCache(e)
			e.register("account", registry.Entry{ForwardHeaders: []string{"Authorization"}, Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				write(w, "[hello "+r.Header.Get("Authorization")+"]")
			})})
			src := `<micro-frontend id=account/>`
			if required {
				src = `<micro-frontend id=account errorbehaviour=error/>`
			}
			url := e.page(src, nil)
			// An anonymous visitor first, then two with tokens.
			for _, token := range []string{"", "alice", "bob"} {
				h := http.Header{}
				if token != "" {
					h.Set("Authorization", token)
				}
				resp, body := get(t, url, h)
				if !strings.Contains(body, "[hello "+token+"]") {
					t.Errorf("visitor %q got %q", token, body)
				}
				if cc := resp.Header.Get("Cache-Control"); token != "" && shared(cc) {
					t.Errorf("visitor %q's page is shared: Cache-Control %q", token, cc)
				}
			}
		})
	}
}

// A required fragment allowed to set cookies answers public, max-age=60
// with a Set-Cookie: every visitor gets their own cookie (the answer is
// never stored), and the page is never publicly cacheable.
func TestPageWithSetCookieIsNeverSharedNorReplayed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withCache(e)
	var n atomic.Int64
	e.register("session", registry.Entry{SetCookie: true, Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		http.SetCookie(w, &http.Cookie{Name: "session", Value: fmt.Sprint(n.Add(1))})
		write(w, "[session]")
	})})
	url := e.page(`<micro-frontend id=session errorbehaviour=error/>`, nil)
	seen := map[string]bool{}
	for range 3 {
		resp, _ := get(t, url, nil)
		for _, c := range resp.Cookies() {
			if seen[c.Value] {
				t.Errorf("session cookie %q sent to two visitors", c.Value)
			}
			seen[c.Value] = true
		}
		if cc := resp.Header.Get("Cache-Control"); shared(cc) {
			t.Errorf("a page with Set-Cookie is sent Cache-Control %q", cc)
		}
	}
	if len(seen) != 3 {
		t.Errorf("%d distinct cookies for 3 visitors", len(seen))
	}
}

// A page that used an answer varying on a request header the CDN does not
// key on is private (CloudFront ignores Vary; RFC 9111 §4.1 is ours to
// keep). Vary: * is never shared.
func TestPageUsingVaryingAnswerIsPrivate_RFC9111_4_1(t *testing.T) {
	t.Parallel()
	for _, vary := range []string{"Accept-Language", "Cookie", "*"} {
		t.Run(vary, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			withCache(e)
			e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Vary", vary)
				write(w, "[a "+r.Header.Get("Accept-Language")+"]")
			})})
			// The required fragment's answer, then the optional one's
			// from the cache.
			for _, src := range []string{`<micro-frontend id=a errorbehaviour=error/>`, `<micro-frontend id=a errorbehaviour=error/><micro-frontend id=a/>`} {
				url := e.page(src, nil)
				for range 2 {
					resp, _ := get(t, url, http.Header{"Accept-Language": {"de"}})
					if cc := resp.Header.Get("Cache-Control"); shared(cc) {
						t.Errorf("%s: Vary: %s folded into a shared page: Cache-Control %q, Vary %q", src, vary, cc, resp.Header.Values("Vary"))
					}
				}
			}
		})
	}
}

// The page's freshness is that of the answers it used: a required
// fragment served from the cache a second into its 3 s life leaves the
// page at most 2 s (RFC 9111 §4.2.3, §5.1: the answer's age counts).
func TestPageFreshnessIsThatOfTheAnswersUsed_RFC9111_4_2_3(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withCache(e)
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3")
		write(w, "[a]")
	})})
	url := e.page(`<micro-frontend id=a errorbehaviour=error/>`, nil)
	resp, _ := get(t, url, nil)
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=0, s-maxage=3" {
		t.Fatalf("first page: Cache-Control %q", cc)
	}
	time.Sleep(1100 * time.Millisecond)
	resp, _ = get(t, url, nil)
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=0, s-maxage=1" {
		t.Errorf("page from an answer cached 1.1 s ago: Cache-Control %q, want s-maxage=1", cc)
	}
}

// When the CDN keys its cache on a header (Composer.CDNKey, which the CDK
// stack's cache policy and COMPOSER_CDN_KEY_HEADERS keep equal), a page
// that used an answer varying on it stays shared and names it in its Vary;
// varying on another header still makes it private.
func TestPageVaryNamesTheHeadersTheCDNKeysOn_RFC9111_4_1(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withCache(e)
	e.composer.CDNKey = []string{"accept-language"}
	for id, vary := range map[string]string{"lang": "Accept-Language", "ua": "User-Agent"} {
		e.register(id, registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", vary)
			write(w, "["+id+"]")
		})})
	}
	for _, tt := range []struct{ src, cc, vary string }{
		{`<micro-frontend id=lang errorbehaviour=error/>`, "public, max-age=0, s-maxage=", "Accept-Language"},
		{`<micro-frontend id=lang errorbehaviour=error/><micro-frontend id=lang/>`, "public, max-age=0, s-maxage=", "Accept-Language"},
		{`<micro-frontend id=lang errorbehaviour=error/><micro-frontend id=ua errorbehaviour=error/>`, "private, no-cache", ""},
	} {
		// The second load: the optional slot (a render of its own, keyed
		// by its slot) is known from the cache before the page's header.
		url := e.page(tt.src, nil)
		get(t, url, http.Header{"Accept-Language": {"de"}})
		resp, _ := get(t, url, http.Header{"Accept-Language": {"de"}})
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, tt.cc) {
			t.Errorf("%s: Cache-Control %q, want %q", tt.src, cc, tt.cc)
		}
		if v := strings.Join(resp.Header.Values("Vary"), ", "); v != tt.vary {
			t.Errorf("%s: Vary %q, want %q", tt.src, v, tt.vary)
		}
	}
}

// pathEcho answers as a Lambda fragment that renders the page's path
// (rawPath in its event) would: public for a minute.
type pathEcho struct{}

func (pathEcho) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	return &fetch.Response{Status: 200, Header: http.Header{"Cache-Control": {"public, max-age=60"}},
		Body: io.NopCloser(strings.NewReader("[path " + req.Path + "]"))}, nil
}

// RFC 9111 §2: a function fragment receives the page's path, so its cached
// answer for one page is never another page's: /lp/a?k=1 then /lp/b?k=1
// show each their own path, required or not.
func TestPageFunctionFragmentCachedPerPath_RFC9111_2(t *testing.T) {
	t.Parallel()
	for _, src := range []string{`<micro-frontend id=l errorbehaviour=error/>`, `<micro-frontend id=l/>`} {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.composer.Fetch = pathEcho{}
			withCache(e)
			e.register("l", registry.Entry{Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:l"})
			base := e.page(src, nil)
			for _, path := range []string{"/lp/a", "/lp/a", "/lp/b", "/lstar/x/y", "/l_pathpub", "/lp/b"} {
				_, body := get(t, base+path+"?k=1", nil)
				if want := "[path " + path + "]"; !strings.Contains(body, want) {
					t.Errorf("%s: page shows %q, want %q", path, body, want)
				}
			}
		})
	}
}

// RFC 9111 §4.2.3 and §5.1: the page's freshness counts the Age the
// fragment's answer arrived with: max-age=60 with Age: 50 leaves the page
// s-maxage=10; with Age: 500, nothing. A list-valued Age uses its first
// member; an invalid one is ignored.
func TestPageFreshnessCountsTheAnswersAgeHeader_RFC9111_4_2_3(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ age, cc string }{
		{"50", "public, max-age=0, s-maxage=10"},
		{"50, 7", "public, max-age=0, s-maxage=10"},
		{"500", "no-store"},
		{"soon", "public, max-age=0, s-maxage=60"},
	} {
		t.Run(tt.age, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Age", tt.age)
				write(w, "[a]")
			})})
			resp, _ := get(t, e.page(`<micro-frontend id=a errorbehaviour=error/>`, nil), nil)
			if cc := resp.Header.Get("Cache-Control"); cc != tt.cc {
				t.Errorf("Age %q: page Cache-Control %q, want %q", tt.age, cc, tt.cc)
			}
		})
	}
}

// A fragment varying on its slot (Mfe-Slot, which the docs ask fragments
// to draw ids from) leaves the page shared, and names nothing in the
// page's Vary: the slot is the template's, the same on every load of the
// page, and no visitor sends it. Old code took it for a header the CDN
// does not key on, and made the page private.
func TestPageUsingAnAnswerVaryingOnItsSlotStaysShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withCache(e)
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=30")
		w.Header().Set("Vary", fetch.SlotHeader)
		write(w, "[a "+r.Header.Get(fetch.SlotHeader)+"]")
	})})
	url := e.page(`<micro-frontend id=a errorbehaviour=error/><micro-frontend id=a/>`, nil)
	// The second load: the optional slot's answer is known from the cache
	// before the page's header.
	for i := range 2 {
		resp, body := get(t, url, nil)
		if !strings.Contains(body, "[a s0][a s1]") {
			t.Errorf("load %d: %q", i, body)
		}
		if i == 0 {
			continue
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=0, s-maxage=") {
			t.Errorf("load %d: Cache-Control %q, want public", i, cc)
		}
		if v := resp.Header.Values("Vary"); len(v) != 0 {
			t.Errorf("load %d: Vary %q, want none", i, v)
		}
	}
}

// A Podium fragment varying on a Podium header (Podium-Locale,
// Podium-Device-Type...) varies on a value the composer set: from its
// entry, a constant, the page's path, or a header the CDN keys on. The
// page stays shared and names in its Vary only the CDN-keyed header the
// value came from. Old code took Podium-Locale for a header the CDN does
// not key on, and made the page private.
func TestPageUsingAnAnswerVaryingOnAPodiumHeaderStaysShared(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		cdnKey []string
		podium registry.Podium
		vary   string // the answer's
		want   string // the page's Vary
	}{
		{"locale from Accept-Language, keyed", []string{"accept-language"}, registry.Podium{}, "Podium-Locale", "Accept-Language"},
		{"locale en-US, Accept-Language not keyed", nil, registry.Podium{}, "Podium-Locale", ""},
		{"locale from the entry", []string{"accept-language"}, registry.Podium{Locale: "nb-NO"}, "Podium-Locale", ""},
		{"device from CloudFront's headers", []string{"CloudFront-Is-Mobile-Viewer", "CloudFront-Is-Tablet-Viewer"}, registry.Podium{}, "Podium-Device-Type", "Cloudfront-Is-Mobile-Viewer, Cloudfront-Is-Tablet-Viewer"},
		{"device from the entry", []string{"CloudFront-Is-Mobile-Viewer"}, registry.Podium{DeviceType: "tablet"}, "Podium-Device-Type", ""},
		{"the rest: constants or the path", nil, registry.Podium{MountPathname: true}, "Podium-Requested-By, Podium-Public-Pathname, Podium-Mount-Pathname, Podium-Mount-Origin", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			withCache(e)
			e.composer.CDNKey = tt.cdnKey
			pod := tt.podium
			e.register("p", registry.Entry{Podium: &pod, Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=30")
				w.Header().Set("Vary", tt.vary)
				write(w, "[p]")
			})})
			url := e.page(`<micro-frontend id=p errorbehaviour=error/>`, nil)
			resp, _ := get(t, url, http.Header{"Accept-Language": {"de"}})
			if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=0, s-maxage=") {
				t.Errorf("Cache-Control %q, want public", cc)
			}
			if v := strings.Join(resp.Header.Values("Vary"), ", "); v != tt.want {
				t.Errorf("Vary %q, want %q", v, tt.want)
			}
		})
	}
}
