package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// echoUser answers with cc and the request's Authorization and Cookie, as
// a personalised fragment would.
func echoUser(cc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cc)
		io.WriteString(w, "auth="+r.Header.Get("Authorization")+" cookie="+r.Header.Get("Cookie"))
	}
}

// RFC 9111 §3.5: a shared cache stores and reuses a response to a request
// with Authorization only if the response says public, s-maxage or
// must-revalidate.
func TestCacheAuthorization_RFC9111_3_5(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cc     string
		shared bool
	}{
		{"max-age=60", false},
		{"max-age=60, stale-while-revalidate=60", false},
		{"public, max-age=60", true},
		{"s-maxage=60", true},
		{"max-age=60, must-revalidate", true},
		// Only these three (§3.5): proxy-revalidate is not one, and a
		// directive that takes no argument given one grants nothing.
		{"max-age=60, proxy-revalidate", false},
		{`public="", max-age=60`, false},
		{"max-age=60, must-revalidate=1", false},
		{`max-age=60, must-revalidate="x"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			t.Parallel()
			c, _, _ := newTestCache(t, 1<<20)
			o := newOrigin(t, echoUser(tt.cc))
			_, first, _ := get(t, c, o.url, http.Header{"Authorization": {"Bearer alice"}})
			_, second, _ := get(t, c, o.url, http.Header{"Authorization": {"Bearer bob"}})
			if first != "auth=Bearer alice cookie=" {
				t.Fatalf("first = %q", first)
			}
			if tt.shared {
				if o.calls.Load() != 1 {
					t.Errorf("%q allows a shared cache to reuse it, yet %d upstream calls", tt.cc, o.calls.Load())
				}
				return
			}
			if second != "auth=Bearer bob cookie=" || o.calls.Load() != 2 {
				t.Errorf("bob got %q after %d upstream calls: alice's answer was reused", second, o.calls.Load())
			}
		})
	}
}

// RFC 9111 §3.5, the other way round: a response stored for a request
// without Authorization is not used for one with Authorization unless it
// says public, s-maxage or must-revalidate.
func TestCacheStoredAnonymousNotUsedForAuthorization_RFC9111_3_5(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, echoUser("max-age=60"))
	get(t, c, o.url, nil)
	_, body, _ := get(t, c, o.url, http.Header{"Authorization": {"Bearer bob"}})
	if body != "auth=Bearer bob cookie=" || o.calls.Load() != 2 {
		t.Errorf("bob got %q after %d upstream calls, want his own answer", body, o.calls.Load())
	}
}

// Our rule, in the spirit of RFC 9111 §3.5: the cache key has no Cookie,
// so a response to a request with a forwarded Cookie is stored and reused
// only if it says public or s-maxage (§5.2.2.9, §5.2.2.10): must-revalidate
// is not enough.
func TestCacheForwardedCookie_RFC9111_3_5(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cc     string
		shared bool
	}{
		{"max-age=60", false},
		{"max-age=60, must-revalidate", false},
		{"public, max-age=60", true},
		{"s-maxage=60", true},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			t.Parallel()
			c, _, _ := newTestCache(t, 1<<20)
			o := newOrigin(t, echoUser(tt.cc))
			get(t, c, o.url, http.Header{"Cookie": {"session=alice"}})
			_, second, _ := get(t, c, o.url, http.Header{"Cookie": {"session=bob"}})
			if tt.shared {
				if o.calls.Load() != 1 {
					t.Errorf("%q is shared, yet %d upstream calls", tt.cc, o.calls.Load())
				}
				return
			}
			if second != "auth= cookie=session=bob" || o.calls.Load() != 2 {
				t.Errorf("bob got %q after %d upstream calls: alice's answer was reused", second, o.calls.Load())
			}
			// Nor is an entry stored without a cookie used for one with.
			c2, _, _ := newTestCache(t, 1<<20)
			get(t, c2, o.url, nil)
			if _, body, _ := get(t, c2, o.url, http.Header{"Cookie": {"session=carol"}}); body != "auth= cookie=session=carol" {
				t.Errorf("carol got %q", body)
			}
		})
	}
}

// RFC 9111 §3 allows storing a response with Set-Cookie, and §7.3 warns
// what that means in a shared cache: one visitor's session for everyone.
// Our rule: a response with Set-Cookie is never stored.
func TestCacheSetCookieNeverStored_RFC9111_3(t *testing.T) {
	t.Parallel()
	c, _, results := newTestCache(t, 1<<20)
	n := 0
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("Cache-Control", "public, s-maxage=60")
		w.Header().Set("Set-Cookie", fmt.Sprintf("session=%d", n))
		io.WriteString(w, "x")
	})
	for range 2 {
		resp, err := c.Fetch(context.Background(), &fetch.Request{Endpoint: o.url, Header: http.Header{}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if o.calls.Load() != 2 {
		t.Errorf("%d upstream calls: a Set-Cookie answer was replayed", o.calls.Load())
	}
	if _, ok := results.Load(Hit); ok {
		t.Error("a hit was counted")
	}
}

// RFC 9111 §4.1: Vary: * never matches, so such a response is never reused.
func TestCacheVaryStarNeverReused_RFC9111_4_1(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "Accept-Language, *")
		io.WriteString(w, "x")
	})
	get(t, c, o.url, nil)
	get(t, c, o.url, nil)
	if o.calls.Load() != 2 {
		t.Errorf("Vary: * was reused (%d upstream calls)", o.calls.Load())
	}
}

// constOrigin answers every request at once, from memory, cacheable.
type constOrigin struct{ body string }

func (o constOrigin) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	return &fetch.Response{Status: 200, Header: http.Header{"Cache-Control": {"max-age=600"}, "Vary": {"Accept-Language"}},
		Body: io.NopCloser(strings.NewReader(o.body))}, nil
}

// Everything the cache keeps counts against its bound: 30,000 distinct
// queries of 7.5 KB each (the index of what each query varies on, the
// keys, the coalescing state) with the bound at 1 MiB keep the live heap
// within the bound plus 8 MiB.
func TestCacheIndexIsBounded(t *testing.T) {
	const bound = 1 << 20
	c := New(constOrigin{body: "<p>small</p>"}, bound, nil)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	pad := strings.Repeat("q", 7500)
	h := http.Header{"Accept-Language": {"en"}}
	for i := range 30_000 {
		// Each query twice: the second call finds what the first stored.
		for range 2 {
			resp, err := c.Fetch(context.Background(), &fetch.Request{Endpoint: "http://f/", RawQuery: fmt.Sprintf("n=%d&pad=%s", i, pad), Header: h})
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	after := heap()
	t.Logf("live heap %.1f MiB before, %.1f MiB after (bound 1 MiB + 8 MiB)", float64(before)/(1<<20), float64(after)/(1<<20))
	if after > bound+8<<20 {
		t.Errorf("live heap %.1f MiB for a cache bound at 1 MiB", float64(after)/(1<<20))
	}
	runtime.KeepAlive(c)
}

// One case per parsing rule, each naming its section of RFC 9111.
func TestParseCacheControlRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header string
		check        func(CacheControl) bool
	}{
		{"§5.2: names are case-insensitive, several lines and lists combine", "PUBLIC, Max-Age=60\x00s-maxage=30",
			func(cc CacheControl) bool {
				return cc.Public && cc.MaxAge == time.Minute && cc.SMaxAge == 30*time.Second
			}},
		{"§5.2: an argument may be quoted", `max-age="60"`, func(cc CacheControl) bool { return cc.MaxAge == time.Minute }},
		{"§1.2.2: a delta that is not a number is stale at once", "max-age=soon", func(cc CacheControl) bool { return cc.MaxAge == 0 }},
		{"§1.2.2: a negative delta is stale at once", "max-age=-5", func(cc CacheControl) bool { return cc.MaxAge == 0 }},
		{"§1.2.2: a delta too large to hold is 2147483648", "max-age=99999999999999999999, s-maxage=2147483649",
			func(cc CacheControl) bool {
				return cc.MaxAge == 2147483648*time.Second && cc.SMaxAge == 2147483648*time.Second && cc.sMaxAgeValid
			}},
		{"§1.2.2: a delta is digits only", "max-age=+60, s-maxage=6e1", func(cc CacheControl) bool { return cc.MaxAge == 0 && cc.SMaxAge == 0 }},
		{"§4.2.1: a directive given twice with different values is stale", "max-age=60, max-age=600", func(cc CacheControl) bool { return cc.MaxAge == 0 }},
		{"§4.2.1: given twice with the same value is that value", "max-age=60\x00max-age=60", func(cc CacheControl) bool { return cc.MaxAge == time.Minute }},
		{"absent is -1", "public", func(cc CacheControl) bool { return cc.MaxAge == -1 && cc.SMaxAge == -1 && cc.StaleIfError == -1 }},
		{"§5.2.2.2: must-revalidate", "must-revalidate", func(cc CacheControl) bool { return cc.MustRevalidate && cc.Revalidate }},
		{"§5.2.2.8: proxy-revalidate is not must-revalidate (§3.5), only forbids serving stale", "proxy-revalidate",
			func(cc CacheControl) bool { return !cc.MustRevalidate && cc.Revalidate }},
		{"§5.2.2.2 and §5.2.2.9: a directive that takes no argument given one is absent (it grants nothing)", `public="", must-revalidate=1`,
			func(cc CacheControl) bool { return !cc.Public && !cc.MustRevalidate && cc.Revalidate }},
		{"§5.2: a quoted argument may hold commas", `x-ext="a, public, max-age=5", max-age=60`,
			func(cc CacheControl) bool { return !cc.Public && cc.MaxAge == time.Minute }},
		{"§5.2.2.4 and §5.2.2.7: qualified no-cache and private count as plain", `private="Set-Cookie", no-cache="X"`, func(cc CacheControl) bool { return cc.Private && cc.NoCache }},
		{"RFC 5861: stale-while-revalidate and stale-if-error", "stale-while-revalidate=5, STALE-IF-ERROR=7",
			func(cc CacheControl) bool {
				return cc.StaleWhileRevalidate == 5*time.Second && cc.StaleIfError == 7*time.Second
			}},
		{"RFC 9110 §5.6.1: empty list elements and optional whitespace are well-formed", " , no-store,\t,max-age=60 ,\tprivate=\"a, b\" ,",
			func(cc CacheControl) bool {
				return !cc.Malformed && cc.NoStore && cc.Private && cc.MaxAge == time.Minute
			}},
		{"§5.2: a quoted argument may hold an escaped quote", `x="a\", private", max-age=60`,
			func(cc CacheControl) bool { return !cc.Malformed && !cc.Private && cc.MaxAge == time.Minute }},
		{"§5.2.2.7: private=token and private=\"a, b\" count as plain", `private=set-cookie` + "\x00" + `private="Set-Cookie, X-Id"`,
			func(cc CacheControl) bool { return !cc.Malformed && cc.Private }},
	}
	// A directive list that does not parse (§5.2: #cache-directive,
	// cache-directive = token [ "=" ( token / quoted-string ) ]) is
	// malformed, whatever else it says, and whichever line it is on.
	for _, bad := range []string{
		`max-age=60, x=a"b, private`,
		`max-age=60, x=a"b, no-store`,
		`max-age=60, x="a, private`,
		`max-age=60, x="a\", private`,
		`max-age=60, x="a"b, private`,
		`max-age=60, x="a" "b", private`,
		`max-age=60 private`,
		`max-age = 60`,
		`max-age= 60`,
		`max-age=60;private`,
		`=60, private`,
		`max-age==60`,
		`max-age=60, pri vate`,
		"max-age=60,\vprivate",
		"max-age=60, \u00a0private",
		"max-age=60, priv\x01ate",
		"max-age=60, x=\"a\x7f\"",
		`max-age=60, "private"`,
		`max-age=60, x=a=b`,
		"max-age=60\x00" + `x=a"b, private`,
	} {
		if cc := ParseCacheControl(http.Header{"Cache-Control": strings.Split(bad, "\x00")}); !cc.Malformed {
			t.Errorf("%q is well-formed? %+v", bad, cc)
		}
	}
	for _, tt := range tests {
		cc := ParseCacheControl(http.Header{"Cache-Control": strings.Split(tt.header, "\x00")})
		if !tt.check(cc) {
			t.Errorf("%s: %q -> %+v", tt.name, tt.header, cc)
		}
	}
}

// One case per decision rule, each naming its section of RFC 9111.
func TestDecideRules(t *testing.T) {
	t.Parallel()
	anon := &fetch.Request{Header: http.Header{}}
	auth := &fetch.Request{Header: http.Header{"Authorization": {"Bearer x"}}}
	cookie := &fetch.Request{Header: http.Header{"Cookie": {"s=1"}}}
	type want int
	const (
		none want = iota
		private
		shared
	)
	tests := []struct {
		name   string
		req    *fetch.Request
		status int
		header http.Header
		want   want
	}{
		{"§4.2.1: s-maxage wins over max-age in a shared cache", anon, 200, http.Header{"Cache-Control": {"max-age=600, s-maxage=10"}}, shared},
		{"§3: no explicit lifetime, not stored (we use no heuristics, §4.2.2)", anon, 200, http.Header{}, none},
		{"§3: only 200 is stored", anon, 203, http.Header{"Cache-Control": {"max-age=60"}}, none},
		{"§5.2.2.5: no-store", anon, 200, http.Header{"Cache-Control": {"no-store, max-age=60"}}, none},
		{"§5.2.2.4: no-cache (we never revalidate)", anon, 200, http.Header{"Cache-Control": {"no-cache, max-age=60"}}, none},
		{"§5.2.2.7: private", anon, 200, http.Header{"Cache-Control": {"private, max-age=60"}}, private},
		{"§3 and §7.3: Set-Cookie is never shared", anon, 200, http.Header{"Cache-Control": {"public, max-age=60"}, "Set-Cookie": {"a=b"}}, private},
		{"§4.1: Vary: * is never shared", anon, 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"*"}}, private},
		{"§3.5: Authorization without public, s-maxage or must-revalidate", auth, 200, http.Header{"Cache-Control": {"max-age=60"}}, private},
		{"§3.5 and §5.2.2.9: Authorization with public", auth, 200, http.Header{"Cache-Control": {"public, max-age=60"}}, shared},
		{"§3.5 and §5.2.2.10: Authorization with s-maxage", auth, 200, http.Header{"Cache-Control": {"s-maxage=60"}}, shared},
		{"§3.5 and §5.2.2.2: Authorization with must-revalidate", auth, 200, http.Header{"Cache-Control": {"max-age=60, must-revalidate"}}, shared},
		{"§3.5 and §5.2.2.8: proxy-revalidate is not among the three", auth, 200, http.Header{"Cache-Control": {"max-age=60, proxy-revalidate"}}, private},
		{"§3.5 and §5.2.2.9: public takes no argument, public=\"\" grants nothing", auth, 200, http.Header{"Cache-Control": {`public="", max-age=60`}}, private},
		{"§3.5 and §5.2.2.9: public=1 grants nothing", auth, 200, http.Header{"Cache-Control": {"public=1, max-age=60"}}, private},
		{"§3.5 and §5.2.2.2: must-revalidate takes no argument, must-revalidate=1 grants nothing", auth, 200, http.Header{"Cache-Control": {"max-age=60, must-revalidate=1"}}, private},
		{"§3.5 and §5.2.2.2: must-revalidate=\"x\" grants nothing", auth, 200, http.Header{"Cache-Control": {`max-age=60, must-revalidate="x"`}}, private},
		{"§3.5 and §1.2.2: an invalid s-maxage grants nothing", auth, 200, http.Header{"Cache-Control": {"s-maxage=soon, stale-while-revalidate=60"}}, private},
		{"§3.5 and §4.2.1: s-maxage given twice with different values grants nothing", auth, 200, http.Header{"Cache-Control": {"s-maxage=60, s-maxage=30, stale-while-revalidate=60"}}, private},
		{"§3.5 and §5.2: a public inside another directive's quoted argument is no directive", auth, 200, http.Header{"Cache-Control": {`max-age=60, x-ext="a, public"`}}, private},
		{"our Cookie rule: public=\"\" grants nothing", cookie, 200, http.Header{"Cache-Control": {`public="", max-age=60`}}, private},
		{"our Cookie rule: must-revalidate is not enough", cookie, 200, http.Header{"Cache-Control": {"max-age=60, must-revalidate"}}, private},
		{"our Cookie rule: public", cookie, 200, http.Header{"Cache-Control": {"public, max-age=60"}}, shared},
		{"§4.2.1 and §5.2: a directive list that does not parse is not stored (it may hide private)", anon, 200, http.Header{"Cache-Control": {`max-age=60, x=a"b, private`}}, none},
		{"§5.2: an unterminated quote hides no-store", anon, 200, http.Header{"Cache-Control": {`public, s-maxage=60, x="a, no-store`}}, none},
		{"§5.2: one malformed line of several is enough", anon, 200, http.Header{"Cache-Control": {"public, s-maxage=60", `x=a"b`}}, none},
		{"§5.2: a missing comma is malformed", anon, 200, http.Header{"Cache-Control": {"s-maxage=60 private"}}, none},
		{"§5.2.2.7: private wins over public given beside it", anon, 200, http.Header{"Cache-Control": {"public, s-maxage=60", "private"}}, private},
		{"§5.2.2.5: no-store wins over everything beside it", anon, 200, http.Header{"Cache-Control": {"public, s-maxage=60, no-store=1"}}, none},
		{"§4.2.1: conflicting s-maxage values leave no lifetime to share", anon, 200, http.Header{"Cache-Control": {"s-maxage=60, s-maxage=600"}}, none},
		{"RFC 9110 §5.6.1: an empty list element is no error", anon, 200, http.Header{"Cache-Control": {", no-store"}}, none},
		{"RFC 9110 §5.6.1: nor around a shareable answer", anon, 200, http.Header{"Cache-Control": {" , s-maxage=60 ,"}}, shared},
	}
	for _, tt := range tests {
		d := Decide(tt.req, tt.status, tt.header)
		got := none
		switch {
		case d.Shared && d.Private:
			t.Errorf("%s: both shared and private", tt.name)
		case d.Shared:
			got = shared
		case d.Private:
			got = private
		}
		if got != tt.want {
			t.Errorf("%s: %+v", tt.name, d)
		}
	}
	d := Decide(anon, 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"accept-language, Accept-Encoding", "Cookie"}})
	if !d.Shared || strings.Join(d.Vary, ",") != "Accept-Language,Cookie" {
		t.Errorf("§4.1: Vary is read as canonical names without Accept-Encoding: %+v", d)
	}
}

// Peek hands out only a fresh entry the request may use, with its Age
// (RFC 9111 §5.1), and never calls the fragment.
func TestCachePeek(t *testing.T) {
	t.Parallel()
	c, clk, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, serve("max-age=60", "x"))
	req := &fetch.Request{Endpoint: o.url, Header: http.Header{}}
	if c.Peek(req) != nil {
		t.Fatal("peeked an empty cache")
	}
	get(t, c, o.url, nil)
	clk.add(20 * time.Second)
	resp := c.Peek(req)
	if resp == nil || resp.Age != 20*time.Second {
		t.Fatalf("peek = %+v, want the entry aged 20s", resp)
	}
	resp.Body.Close()
	if c.Peek(&fetch.Request{Endpoint: o.url, Header: http.Header{"Authorization": {"x"}}}) != nil {
		t.Error("peek handed an anonymous max-age answer to a request with Authorization (§3.5)")
	}
	clk.add(41 * time.Second)
	if c.Peek(req) != nil {
		t.Error("peek handed out a stale entry")
	}
	if o.calls.Load() != 1 {
		t.Errorf("%d upstream calls", o.calls.Load())
	}
}

// countingOrigin answers every request from memory, public for a minute,
// with what a function fragment receives of it: the path, the route
// parameters and the query. It counts its calls.
type countingOrigin struct{ calls atomic.Int64 }

func (o *countingOrigin) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	o.calls.Add(1)
	body := fmt.Sprintf("path=%s params=%v query=%s", req.Path, req.PathParams, req.RawQuery)
	return &fetch.Response{Status: 200, Header: http.Header{"Cache-Control": {"public, max-age=60"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// RFC 9111 §2: a cache keys what it stores on what the request asked for.
// A Lambda or Step Functions fragment receives the page's path and route
// parameters in its event (rawPath, pathParameters), so for a function
// endpoint both are in the key; an HTTP fragment receives neither, so its
// key leaves them out (one entry for all pages).
func TestCacheKeyHasWhatTheFunctionReceives_RFC9111_2(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		endpoint, loader string
		function         bool
	}{
		{"arn:aws:lambda:eu-west-1:123456789012:function:f", "", true},
		{"arn:aws:states:eu-west-1:123456789012:stateMachine:f", "", true},
		{"f", "", true},
		{"f", "stepfunction", true},
		{"http://f.internal/frag", "", false},
	} {
		t.Run(tt.endpoint+"/"+tt.loader, func(t *testing.T) {
			t.Parallel()
			o := &countingOrigin{}
			c := New(o, 1<<20, nil)
			fetchOne := func(path string, params map[string]string) string {
				t.Helper()
				resp, err := c.Fetch(context.Background(), &fetch.Request{Endpoint: tt.endpoint, Loader: tt.loader,
					Path: path, PathParams: params, RawQuery: "k=1", Header: http.Header{}})
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			a := fetchOne("/lp/a", nil)
			b := fetchOne("/lp/b", nil)
			p1 := fetchOne("/u", map[string]string{"id": "1"})
			p2 := fetchOne("/u", map[string]string{"id": "2"})
			again := fetchOne("/lp/a", nil)
			if !tt.function {
				if o.calls.Load() != 1 {
					t.Errorf("HTTP fragment: %d upstream calls for one query, want 1 (it does not receive the path)", o.calls.Load())
				}
				return
			}
			if !strings.HasPrefix(b, "path=/lp/b ") {
				t.Errorf("/lp/b got %q: another page's answer", b)
			}
			if !strings.Contains(p2, "map[id:2]") {
				t.Errorf("route parameter id=2 got %q: another page's answer", p2)
			}
			if again != a || p1 == p2 || o.calls.Load() != 4 {
				t.Errorf("%d upstream calls, want 4 (the same path again is a hit)", o.calls.Load())
			}
		})
	}
}

// RFC 9111 §5.2.2.2 and §5.2.2.8: once stale, an answer that says
// must-revalidate, or proxy-revalidate (which binds shared caches only), is
// not served without the origin's word: neither stale-while-revalidate nor
// stale-if-error (RFC 5861 §4) applies. A revalidate directive given an
// argument is still honoured here: the safe direction.
func TestCacheRevalidateServesNothingStale_RFC9111_5_2_2_8(t *testing.T) {
	t.Parallel()
	for _, rev := range []string{"must-revalidate", "proxy-revalidate", "must-revalidate=1"} {
		t.Run(rev, func(t *testing.T) {
			t.Parallel()
			cc := "public, max-age=10, stale-while-revalidate=60, stale-if-error=300, " + rev
			c, clk, _ := newTestCache(t, 1<<20)
			o := newOrigin(t, serve(cc, "v1"))
			get(t, c, o.url, nil)
			clk.add(20 * time.Second)
			o.set(serve(cc, "v2"))
			if _, body, _ := get(t, c, o.url, nil); body != "v2" {
				t.Errorf("stale-while-revalidate: got %q, want the origin's v2", body)
			}
			clk.add(20 * time.Second)
			o.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
			if status, body, _ := get(t, c, o.url, nil); status != http.StatusServiceUnavailable {
				t.Errorf("stale-if-error: got %d %q, want the 503", status, body)
			}
			if d := Decide(nil, 200, http.Header{"Cache-Control": {cc}}); d.SWR != 0 || d.SIE != 0 {
				t.Errorf("Decide: %+v, want no stale windows", d)
			}
		})
	}
}

// RFC 9111 §1.2.2: a delta-seconds too large for the cache to hold is
// taken as 2147483648, not as invalid: max-age=99999999999999999999 is
// stored and reused.
func TestCacheHugeDelta_RFC9111_1_2_2(t *testing.T) {
	t.Parallel()
	c, clk, _ := newTestCache(t, 1<<20)
	o := newOrigin(t, serve("max-age=99999999999999999999", "x"))
	get(t, c, o.url, nil)
	clk.add(365 * 24 * time.Hour)
	get(t, c, o.url, nil)
	if o.calls.Load() != 1 {
		t.Errorf("%d upstream calls, want 1", o.calls.Load())
	}
	if d := Decide(nil, 200, http.Header{"Cache-Control": {"max-age=99999999999999999999"}}); !d.Shared || d.Lifetime != 2147483648*time.Second {
		t.Errorf("Decide: %+v", d)
	}
}

// RFC 9111 §4.2.3 and §5.1: an answer's current age starts from its own
// Age header (the time it spent in caches before ours); a list-valued Age
// uses its first member, an invalid one is ignored. max-age=60 with Age: 50
// has 10 s of freshness left; with Age: 500, none, and it is not stored.
func TestCacheAgeHeader_RFC9111_4_2_3(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		age  []string
		want time.Duration // Decision.Age
	}{
		{[]string{"50"}, 50 * time.Second},
		{[]string{"50, 7"}, 50 * time.Second},
		{[]string{"50", "7"}, 50 * time.Second},
		{[]string{"soon"}, 0},
		{[]string{"-5"}, 0},
		{[]string{"99999999999999999999"}, 2147483648 * time.Second},
	} {
		d := Decide(nil, 200, http.Header{"Cache-Control": {"max-age=60"}, "Age": tt.age})
		if d.Age != tt.want {
			t.Errorf("Age %q: Decision.Age %v, want %v", tt.age, d.Age, tt.want)
		}
	}
	if d := Decide(nil, 200, http.Header{"Cache-Control": {"max-age=60, stale-while-revalidate=30"}, "Age": {"500"}}); d.Shared {
		t.Errorf("Age 500 past max-age=60 and its stale window: %+v, want not reusable", d)
	}

	for _, tt := range []struct {
		age      string
		advance  time.Duration
		upstream int64
	}{
		{"50", 9 * time.Second, 1},
		{"50", 11 * time.Second, 2},
		{"500", 0, 2},
		{"50, 500", 9 * time.Second, 1},
		{"soon", 59 * time.Second, 1},
	} {
		t.Run(tt.age+"/"+tt.advance.String(), func(t *testing.T) {
			t.Parallel()
			c, clk, _ := newTestCache(t, 1<<20)
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Age", tt.age)
				io.WriteString(w, "x")
			})
			get(t, c, o.url, nil)
			clk.add(tt.advance)
			get(t, c, o.url, nil)
			if o.calls.Load() != tt.upstream {
				t.Errorf("%d upstream calls, want %d", o.calls.Load(), tt.upstream)
			}
			if tt.upstream == 1 {
				if resp := c.Peek(&fetch.Request{Endpoint: o.url, Header: http.Header{}}); resp == nil {
					t.Error("peek found nothing fresh")
				} else {
					resp.Body.Close()
				}
			}
		})
	}
}

// Every fragment answer's Cache-Control is parsed, on every page: a usual
// header costs no allocation (directive names in any case, quoted
// arguments, several lines).
func TestParseCacheControlAllocatesNothing(t *testing.T) {
	for _, lines := range [][]string{
		{"no-store"},
		{"public, max-age=60, stale-while-revalidate=30, stale-if-error=600"},
		{`Private, Max-Age="10", no-cache="Set-Cookie, X-Foo"`},
		{"s-maxage=5", "must-revalidate"},
	} {
		h := http.Header{"Cache-Control": lines}
		if n := testing.AllocsPerRun(100, func() { ParseCacheControl(h) }); n != 0 {
			t.Errorf("ParseCacheControl(%q): %.1f allocations, want 0", lines, n)
		}
	}
}

// A request's key is made once: a page's cache asks for it up to three
// times a fragment (Peek, Presend, Fetch), on every page.
func TestARequestsKeyIsMadeOnce(t *testing.T) {
	req := &fetch.Request{Endpoint: "http://reviews.internal/r", RawQuery: "sku=1", Header: http.Header{fetch.SlotHeader: {"s1"}}}
	first := primaryKey(req)
	if allocs := testing.AllocsPerRun(10, func() { _ = primaryKey(req) }); allocs != 0 {
		t.Errorf("the key again: %.0f allocations, want none", allocs)
	}
	if again := primaryKey(req); again != first {
		t.Errorf("key %q, then %q", first, again)
	}
}

// A page peeks for every optional fragment before its first byte: for an
// endpoint with nothing stored, the peek answers without building the
// request's key (the work is left to the fetch, after the page's head),
// and still finds an answer once one is stored, and none once it is gone.
func TestPeekBuildsNoKeyForAnEndpointWithNothingStored(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestCache(t, 1<<20)
	stored := newOrigin(t, serve("max-age=60", "x"))
	other := newOrigin(t, serve("max-age=60", "y"))
	get(t, c, stored.url, nil)
	req := &fetch.Request{Endpoint: other.url, Header: http.Header{}}
	if c.Peek(req) != nil || req.CacheKey != "" {
		t.Fatalf("peek for an endpoint with nothing stored built its key %q", req.CacheKey)
	}
	get(t, c, other.url, nil)
	resp := c.Peek(&fetch.Request{Endpoint: other.url, Header: http.Header{}})
	if resp == nil {
		t.Fatal("peek missed the answer stored for the endpoint")
	}
	resp.Body.Close()
	// Stored over again (the same key), then pushed out by a larger one:
	// the count follows, and the peek misses again.
	c.store(&fetch.Request{Endpoint: other.url, Header: http.Header{}}, primaryKey(&fetch.Request{Endpoint: other.url, Header: http.Header{}}),
		&fetch.Response{Status: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}}, []byte("z"), Decide(&fetch.Request{Header: http.Header{}}, 200, http.Header{"Cache-Control": {"max-age=60"}}))
	c.mu.Lock()
	for c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
	left := len(c.byEndpoint)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("%d endpoints still counted with nothing stored", left)
	}
	req = &fetch.Request{Endpoint: other.url, Header: http.Header{}}
	if c.Peek(req) != nil || req.CacheKey != "" {
		t.Error("peek after every entry went built a key or found one")
	}
}
