package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/server"
)

var overrideKey = []byte(strings.Repeat("k", 32))

func overrideServer(t *testing.T, key []byte) *httptest.Server {
	t.Helper()
	s := server.New(server.Options{Log: slog.New(slog.DiscardHandler), OverrideKey: key})
	s.SetTemplates(buildSet(t, map[string]string{"routes.json": `{"/": "a.html"}`, "a.html": "page"}))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func signed(t *testing.T, key []byte, tok override.Token) string {
	t.Helper()
	s, err := override.Sign(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send makes one request without following redirects.
func send(t *testing.T, method, u string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfPair loads the page and returns its CSRF cookie and form field.
func csrfPair(t *testing.T, ts *httptest.Server) (*http.Cookie, string) {
	t.Helper()
	resp, body := send(t, "GET", ts.URL+server.OverridesPath, http.Header{}, "")
	c := cookieNamed(resp, "mfe-override-csrf")
	m := csrfField.FindStringSubmatch(body)
	if c == nil || m == nil {
		t.Fatalf("the page set no CSRF cookie (%v) or field (%v)", c, m)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("CSRF cookie %v: want HttpOnly and SameSite=Strict", c)
	}
	return c, m[1]
}

func form(csrf, action, token string) string {
	v := url.Values{"action": {action}}
	if csrf != "" {
		v.Set("csrf", csrf)
	}
	if token != "" {
		v.Set("token", token)
	}
	return v.Encode()
}

func TestOverridesPageOnlyWithTheKey(t *testing.T) {
	t.Parallel()
	resp, _ := send(t, "GET", overrideServer(t, nil).URL+server.OverridesPath, http.Header{}, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("without the key: %d, want 404", resp.StatusCode)
	}
}

func TestOverridesPageShowsTheRequestsOverrides(t *testing.T) {
	t.Parallel()
	ts := overrideServer(t, overrideKey)
	exp := time.Now().Add(2 * time.Hour)
	tok := signed(t, overrideKey, override.Token{Fragments: map[string]string{
		"reviews": "https://preview.internal/fragment?a=1&b=2",
		"<b>x":    "https://other.internal/",
	}, Debug: true, Expires: exp})
	resp, body := send(t, "GET", ts.URL+server.OverridesPath, http.Header{override.Header: {tok}}, "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		"from the Mfe-Override header", exp.UTC().Truncate(time.Second).Format(time.RFC3339),
		"<code>reviews</code>", "<code>https://preview.internal/fragment?a=1&amp;b=2</code>",
		"<code>&lt;b&gt;x</code>", "allowed",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>x") {
		t.Error("an id was not escaped")
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Error("the page has inline script or style, which page policies refuse")
	}
	// No token, or one that is not valid: nothing active.
	for _, h := range []http.Header{{}, {override.Header: {tok[:len(tok)-2]}}} {
		_, body := send(t, "GET", ts.URL+server.OverridesPath, h, "")
		if !strings.Contains(body, "No override is active") || strings.Contains(body, "reviews") {
			t.Errorf("header %v: page shows an override:\n%s", h, body)
		}
	}
}

func TestOverridesPageSetsAndClearsTheCookie(t *testing.T) {
	t.Parallel()
	ts := overrideServer(t, overrideKey)
	exp := time.Now().Add(time.Hour)
	tok := signed(t, overrideKey, override.Token{Fragments: map[string]string{"reviews": "https://preview.internal/r"}, Expires: exp})
	csrfCookie, csrf := csrfPair(t, ts)
	post := func(h http.Header, body string) (*http.Response, string) {
		if h.Get("Cookie") == "" {
			h.Set("Cookie", csrfCookie.Name+"="+csrfCookie.Value)
		}
		return send(t, "POST", ts.URL+server.OverridesPath, h, body)
	}

	resp, body := post(http.Header{}, form(csrf, "set", tok))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != server.OverridesPath {
		t.Fatalf("set: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	c := cookieNamed(resp, override.Cookie)
	if c == nil || c.Value != tok || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Fatalf("cookie %+v: want the token, HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if c.MaxAge < 3500 || c.MaxAge > 3601 {
		t.Errorf("Max-Age %d, want the token's hour", c.MaxAge)
	}
	// The page then shows it, from the cookie.
	_, body = send(t, "GET", ts.URL+server.OverridesPath, http.Header{"Cookie": {c.Name + "=" + c.Value}}, "")
	if !strings.Contains(body, "from the mfe-override cookie") || !strings.Contains(body, "https://preview.internal/r") {
		t.Errorf("after set, the page does not show the cookie's override:\n%s", body)
	}

	// Behind HTTPS (here, or the load balancer's X-Forwarded-Proto): Secure.
	for _, h := range []http.Header{{"X-Forwarded-Proto": {"https"}}, {"Cloudfront-Forwarded-Proto": {"https"}}} {
		resp, _ = post(h, form(csrf, "set", tok))
		if c := cookieNamed(resp, override.Cookie); c == nil || !c.Secure {
			t.Errorf("%v: cookie %+v, want Secure", h, c)
		}
	}

	resp, _ = post(http.Header{}, form(csrf, "clear", ""))
	c = cookieNamed(resp, override.Cookie)
	if resp.StatusCode != http.StatusSeeOther || c == nil || c.MaxAge >= 0 || c.Value != "" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("clear: %d, cookie %+v: want it removed", resp.StatusCode, c)
	}
}

func TestOverridesPageRefusesBadTokens(t *testing.T) {
	t.Parallel()
	ts := overrideServer(t, overrideKey)
	csrfCookie, csrf := csrfPair(t, ts)
	good := signed(t, overrideKey, override.Token{Fragments: map[string]string{"reviews": "https://p.internal/"}, Expires: time.Now().Add(time.Hour)})
	for name, c := range map[string]struct{ tok, say string }{
		"wrongly signed": {signed(t, []byte(strings.Repeat("w", 32)), override.Token{Fragments: map[string]string{"reviews": "https://p.internal/"}, Expires: time.Now().Add(time.Hour)}), "not signed with this composer"},
		"expired":        {signed(t, overrideKey, override.Token{Fragments: map[string]string{"reviews": "https://p.internal/"}, Expires: time.Now().Add(-time.Minute)}), "expired"},
		"unsigned":       {strings.Split(good, ".")[0], "not an override token"},
		"garbage":        {"<script>alert(1)</script>", "not an override token"},
	} {
		resp, body := send(t, "POST", ts.URL+server.OverridesPath, http.Header{"Cookie": {csrfCookie.Name + "=" + csrfCookie.Value}}, form(csrf, "set", c.tok))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.say) {
			t.Errorf("%s: %d, want 400 saying %q:\n%s", name, resp.StatusCode, c.say, body)
		}
		if cookieNamed(resp, override.Cookie) != nil {
			t.Errorf("%s: the cookie was set", name)
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("%s: the pasted text came back unescaped", name)
		}
	}
}

func TestOverridesPageRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	ts := overrideServer(t, overrideKey)
	csrfCookie, csrf := csrfPair(t, ts)
	tok := signed(t, overrideKey, override.Token{Fragments: map[string]string{"reviews": "https://p.internal/"}, Expires: time.Now().Add(time.Hour)})
	withCookie := func(h http.Header) http.Header {
		h.Set("Cookie", csrfCookie.Name+"="+csrfCookie.Value)
		return h
	}
	for name, c := range map[string]struct {
		h    http.Header
		body string
	}{
		"no CSRF token":          {withCookie(http.Header{}), form("", "set", tok)},
		"no CSRF cookie":         {http.Header{}, form(csrf, "set", tok)},
		"wrong CSRF token":       {withCookie(http.Header{}), form(flipFirst(csrf), "set", tok)},
		"token of another nonce": {http.Header{"Cookie": {csrfCookie.Name + "=" + strings.Repeat("0", 64)}}, form(csrf, "set", tok)},
		"Sec-Fetch-Site":         {withCookie(http.Header{"Sec-Fetch-Site": {"cross-site"}}), form(csrf, "set", tok)},
		"Origin":                 {withCookie(http.Header{"Origin": {"https://evil.example"}}), form(csrf, "set", tok)},
		"clear, cross-site":      {withCookie(http.Header{"Sec-Fetch-Site": {"cross-site"}}), form(csrf, "clear", "")},
	} {
		resp, _ := send(t, "POST", ts.URL+server.OverridesPath, c.h, c.body)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
		if cookieNamed(resp, override.Cookie) != nil {
			t.Errorf("%s: the override cookie was set", name)
		}
	}
	// The same request from the page itself is accepted.
	resp, _ := send(t, "POST", ts.URL+server.OverridesPath, withCookie(http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {ts.URL}}), form(csrf, "set", tok))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin POST: %d, want 303", resp.StatusCode)
	}
}

// flipFirst changes the first character of s.
func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// The cookie is Secure when the front says the request came over HTTPS in
// RFC 7239's Forwarded header too: its first element's proto, as the first
// element of X-Forwarded-Proto.
func TestOverridesPageCookieSecureBehindForwarded(t *testing.T) {
	t.Parallel()
	ts := overrideServer(t, overrideKey)
	tok := signed(t, overrideKey, override.Token{Fragments: map[string]string{"reviews": "https://p.internal/"}, Expires: time.Now().Add(time.Hour)})
	csrfCookie, csrf := csrfPair(t, ts)
	for _, c := range []struct {
		h      http.Header
		secure bool
	}{
		{http.Header{"Forwarded": {"proto=https"}}, true},
		{http.Header{"Forwarded": {"for=192.0.2.1;proto=https;host=www.example.com"}}, true},
		{http.Header{"Forwarded": {`For="[2001:db8::1]:443"; Proto="HTTPS"`}}, true},
		{http.Header{"Forwarded": {"for=192.0.2.1;proto=https, for=10.0.0.1;proto=http"}}, true},
		{http.Header{"Forwarded": {"for=192.0.2.1;proto=http, for=10.0.0.1;proto=https"}}, false},
		{http.Header{"Forwarded": {"for=192.0.2.1", "proto=https"}}, false},
		{http.Header{"Forwarded": {"for=192.0.2.1"}}, false},
		{http.Header{"X-Forwarded-Proto": {"https, http"}}, true},
		{http.Header{"X-Forwarded-Proto": {"http, https"}}, false},
	} {
		c.h.Set("Cookie", csrfCookie.Name+"="+csrfCookie.Value)
		resp, body := send(t, "POST", ts.URL+server.OverridesPath, c.h, form(csrf, "set", tok))
		got := cookieNamed(resp, override.Cookie)
		if got == nil || got.Secure != c.secure {
			t.Errorf("%v: %d, cookie %+v, want Secure %v\n%s", c.h, resp.StatusCode, got, c.secure, body)
		}
	}
}

// An Origin, when present, must be exactly the request's own origin:
// scheme (https over TLS or when the front says so), host and port,
// nothing else; a valid CSRF token does not make up for it.
func TestOverridesPageOriginMustBeExactlyThisOrigin(t *testing.T) {
	t.Parallel()
	ts := overrideServer(t, overrideKey)
	host := strings.TrimPrefix(ts.URL, "http://")
	tok := signed(t, overrideKey, override.Token{Fragments: map[string]string{"reviews": "https://p.internal/"}, Expires: time.Now().Add(time.Hour)})
	csrfCookie, csrf := csrfPair(t, ts)
	for _, c := range []struct {
		origin string
		h      http.Header
		ok     bool
	}{
		{ts.URL, http.Header{}, true},
		{"https://" + host, http.Header{}, false},
		{"ftp://" + host, http.Header{}, false},
		{"HTTP://" + host, http.Header{}, false},
		{"http://user@" + host, http.Header{}, false},
		{ts.URL + "/", http.Header{}, false},
		{ts.URL + "/_composer/overrides", http.Header{}, false},
		{"null", http.Header{}, false},
		{ts.URL, http.Header{"Sec-Fetch-Site": {"same-origin"}}, true},
		{"https://" + host, http.Header{"Sec-Fetch-Site": {"same-origin"}}, false},
		{"https://" + host, http.Header{"X-Forwarded-Proto": {"https"}}, true},
		{"https://" + host, http.Header{"Forwarded": {"proto=https"}}, true},
		{ts.URL, http.Header{"X-Forwarded-Proto": {"https"}}, false},
	} {
		c.h.Set("Origin", c.origin)
		c.h.Set("Cookie", csrfCookie.Name+"="+csrfCookie.Value)
		resp, _ := send(t, "POST", ts.URL+server.OverridesPath, c.h, form(csrf, "set", tok))
		if got := resp.StatusCode == http.StatusSeeOther; got != c.ok {
			t.Errorf("Origin %q %v: %d, want accepted %v", c.origin, c.h, resp.StatusCode, c.ok)
		}
		if !c.ok && (resp.StatusCode != http.StatusForbidden || cookieNamed(resp, override.Cookie) != nil) {
			t.Errorf("Origin %q %v: %d, want 403 and no cookie", c.origin, c.h, resp.StatusCode)
		}
	}
}
