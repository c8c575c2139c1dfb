package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssr-mfe/composer/composer/override"
)

func (b *browser) cookies(url string) []*network.Cookie {
	b.t.Helper()
	var cs []*network.Cookie
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		if err == nil {
			cs = res.Cookies
		}
		return err
	}))
	return cs
}

func browserCookie(cs []*network.Cookie, name string) *network.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// A developer pastes a token into /_composer/overrides in a real browser:
// the page works under its policy (no problem reported), keeps the token in
// an HttpOnly, SameSite=Strict cookie that scripts cannot read, shows the
// override, refuses a bad token and clears the cookie; a form posted from
// another site is refused.
func TestBrowserOverridesPage(t *testing.T) {
	b := newBrowser(t, 1024, 900)
	inst := start(t, map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "*.preview.internal"})
	page := inst.base + "/_composer/overrides"
	tok, err := override.Sign([]byte(testOverrideKey), override.Token{Fragments: map[string]string{"reviews": "https://reviews-pr-42.preview.internal/fragment"}, Debug: true, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pageProblems := func() []string {
		var out []string
		for _, p := range b.seen() {
			if !strings.Contains(p, "favicon.ico") {
				out = append(out, p)
			}
		}
		return out
	}

	b.do(chromedp.Navigate(page), b.visible(`#token`))
	if text := b.text(`#active`); !strings.Contains(text, "No override is active") {
		t.Errorf("before: %q", text)
	}
	b.do(chromedp.SendKeys(chromedp.CSS(`#token`), tok),
		chromedp.Click(chromedp.CSS(`button[value="set"]`)))
	b.untilReloaded(`document.querySelector("#overrides") !== null`)
	if text := b.text(`#active`); !strings.Contains(text, "from the mfe-override cookie") {
		t.Errorf("after set: %q", text)
	}
	if text := b.text(`#overrides`); !strings.Contains(text, "reviews") || !strings.Contains(text, "https://reviews-pr-42.preview.internal/fragment") {
		t.Errorf("overrides shown: %q", text)
	}
	c := browserCookie(b.cookies(inst.base+"/"), override.Cookie)
	if c == nil || c.Value != tok || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" || c.Secure {
		t.Fatalf("cookie %+v: want the token, HttpOnly, SameSite=Strict, Path=/ (not Secure over plain HTTP)", c)
	}
	if left := time.Until(time.Unix(int64(c.Expires), 0)); left < 50*time.Minute || left > time.Hour+time.Minute {
		t.Errorf("the cookie lives %s, want until the token's expiry", left)
	}
	if eval[bool](b, `document.cookie.includes("mfe-override=")`) {
		t.Error("a script can read the override cookie")
	}
	if p := pageProblems(); len(p) > 0 {
		t.Errorf("the page has problems (its policy refused something?):\n%s", strings.Join(p, "\n"))
	}

	// A bad token: 400 on the page, the cookie untouched.
	b.do(chromedp.SendKeys(chromedp.CSS(`#token`), "not-a-token"),
		chromedp.Click(chromedp.CSS(`button[value="set"]`)))
	b.untilReloaded(`document.querySelector("#problem") !== null`)
	if text := b.text(`#problem`); !strings.Contains(text, "not an override token") {
		t.Errorf("bad token: %q", text)
	}
	if c := browserCookie(b.cookies(inst.base+"/"), override.Cookie); c == nil || c.Value != tok {
		t.Errorf("a bad token changed the cookie: %+v", c)
	}

	// Another site's form, with the page's own CSRF field copied: refused.
	csrf := eval[string](b, `document.querySelector('input[name="csrf"]').value`)
	other, _ := override.Sign([]byte(testOverrideKey), override.Token{Fragments: map[string]string{"product": "https://evil.preview.internal/"}, Expires: time.Now().Add(time.Hour)})
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title><form method="post" action="%s"><input type="hidden" name="csrf" value="%s"><input type="hidden" name="token" value="%s"><button name="action" value="set" id="go">go</button></form>`, page, csrf, other)
	}))
	defer attacker.Close()
	elsewhere := strings.Replace(attacker.URL, "127.0.0.1", "localhost", 1) // another site
	b.do(chromedp.Navigate(elsewhere), b.visible(`#go`), chromedp.Click(chromedp.CSS(`#go`)))
	b.untilReloaded(`document.querySelector("#problem") !== null`)
	if text := b.text(`#problem`); !strings.Contains(text, "Refused") {
		t.Errorf("cross-site form: %q", text)
	}
	if c := browserCookie(b.cookies(inst.base+"/"), override.Cookie); c == nil || c.Value != tok {
		t.Errorf("another site's form changed the cookie: %+v", c)
	}

	// Clear.
	b.do(chromedp.Navigate(page), b.visible(`#overrides`),
		chromedp.Click(chromedp.CSS(`button[value="clear"]`)))
	b.untilReloaded(`document.querySelector("#overrides") === null && document.querySelector("#active") !== null`)
	if text := b.text(`#active`); !strings.Contains(text, "No override is active") {
		t.Errorf("after clear: %q", text)
	}
	if c := browserCookie(b.cookies(inst.base+"/"), override.Cookie); c != nil {
		t.Errorf("cookie still there after clear: %+v", c)
	}
}
