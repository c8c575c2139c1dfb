package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/forwarded"
	"github.com/ssr-mfe/composer/composer/override"
)

// OverridesPath is the developers' page of signed overrides: it shows the
// overrides active for the request and sets or clears the mfe-override
// cookie from a pasted token. It exists only while overrides are on
// (Options.OverrideKey); otherwise the path is a page like any other (404).
const OverridesPath = "/_composer/overrides"

// csrfCookie holds the page's CSRF nonce; the form carries its MAC.
const csrfCookie = "mfe-override-csrf"

// overridePageCSP is the page's own policy: no script, no style, no
// frame, forms to this origin only.
const overridePageCSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxOverrideForm bounds the body of a POST to the page.
const maxOverrideForm = 16 << 10

// overridePage is OverridesPath's handler. A POST must pass
// http.CrossOriginProtection (Sec-Fetch-Site, else Origin against Host),
// have, if it has an Origin, exactly this page's (ownOrigin), and carry
// the CSRF token: the MAC, under a key derived from the override key,
// of a random nonce kept in an HttpOnly, SameSite=Strict cookie of the
// page (a signed double submit).
func (s *Server) overridePage() http.Handler {
	cop := http.NewCrossOriginProtection()
	deny := func(w http.ResponseWriter, r *http.Request) {
		s.renderOverrides(w, r, http.StatusForbidden, "Refused: this form may only be sent from this page (a cross-origin request).")
	}
	cop.SetDenyHandler(http.HandlerFunc(deny))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			s.renderOverrides(w, r, http.StatusOK, "")
			return
		}
		if o := r.Header.Values("Origin"); len(o) > 0 && (len(o) > 1 || o[0] != ownOrigin(r)) {
			deny(w, r)
			return
		}
		s.postOverride(w, r)
	}))
}

// ownOrigin is the origin, as a browser writes it in Origin, of the page
// r was sent to: https when it came over HTTPS (here or to the front, see
// forwarded.Secure), else http, and the Host it was sent to.
// CrossOriginProtection compares hosts only; a POST's Origin, when there
// is one, must also have this scheme and nothing more (no user
// information, no path).
func ownOrigin(r *http.Request) string {
	scheme := "http"
	if forwarded.Secure(r) {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

func (s *Server) postOverride(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxOverrideForm)
	if err := r.ParseForm(); err != nil {
		s.renderOverrides(w, r, http.StatusBadRequest, "Refused: the form could not be read.")
		return
	}
	if !s.csrfValid(r) {
		s.renderOverrides(w, r, http.StatusForbidden, "Refused: the form's CSRF token is missing or wrong. Reload this page and send the form again.")
		return
	}
	secure := forwarded.Secure(r)
	switch r.PostForm.Get("action") {
	case "set":
		raw := strings.TrimSpace(r.PostForm.Get("token"))
		t, err := override.Verify(s.override, raw, time.Now())
		if err != nil {
			s.renderOverrides(w, r, http.StatusBadRequest, "Refused: "+tokenProblem(err))
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: override.Cookie, Value: raw, Path: "/",
			MaxAge:   int((time.Until(t.Expires) + time.Second - 1) / time.Second),
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
		})
	case "clear":
		http.SetCookie(w, &http.Cookie{Name: override.Cookie, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure})
	default:
		s.renderOverrides(w, r, http.StatusBadRequest, "Refused: unknown action.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, OverridesPath, http.StatusSeeOther)
}

// tokenProblem says, on the developer's own page, why a pasted token is
// refused (pages say nothing to visitors).
func tokenProblem(err error) string {
	switch {
	case errors.Is(err, override.ErrExpired):
		return "this token has expired; ask for a new one (composer override)."
	case errors.Is(err, override.ErrSignature):
		return "this token was not signed with this composer's key."
	default:
		return "this is not an override token."
	}
}

// csrfMAC is the form's CSRF token for nonce.
func (s *Server) csrfMAC(nonce string) string {
	k := hmac.New(sha256.New, s.override)
	k.Write([]byte("mfe-override csrf key"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != 64 {
		return false
	}
	return hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(s.csrfMAC(c.Value)))
}

// csrfNonce is the request's nonce, or a new one set in the cookie.
func (s *Server) csrfNonce(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: OverridesPath,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: forwarded.Secure(r)})
	return nonce
}

type overrideRow struct{ ID, URL string }

type overridePageData struct {
	Problem   string
	Active    bool
	Source    string
	Rows      []overrideRow
	Debug     bool
	Expires   string
	Remaining string
	Cookie    string // what is wrong with the cookie's token, if it is not the one in use
	CSRF      string
	Header    string
	Path      string
}

func (s *Server) renderOverrides(w http.ResponseWriter, r *http.Request, status int, problem string) {
	d := overridePageData{Problem: problem, CSRF: s.csrfMAC(s.csrfNonce(w, r)), Header: override.Header, Path: OverridesPath}
	now := time.Now()
	if t := override.FromContext(r.Context()); t != nil {
		d.Active, d.Debug = true, t.Debug
		d.Expires = t.Expires.UTC().Format(time.RFC3339)
		d.Remaining = t.Expires.Sub(now).Round(time.Minute).String()
		d.Source = "the " + override.Cookie + " cookie"
		if r.Header.Get(override.Header) != "" {
			if _, err := override.Verify(s.override, r.Header.Get(override.Header), now); err == nil {
				d.Source = "the " + override.Header + " header"
			}
		}
		for id, u := range t.Fragments {
			d.Rows = append(d.Rows, overrideRow{id, u})
		}
		slices.SortFunc(d.Rows, func(a, b overrideRow) int { return strings.Compare(a.ID, b.ID) })
	}
	if c, err := r.Cookie(override.Cookie); err == nil && c.Value != "" {
		if _, err := override.Verify(s.override, c.Value, now); err != nil {
			d.Cookie = tokenProblem(err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", overridePageCSP)
	w.WriteHeader(status)
	_ = overridePageTemplate.Execute(w, d)
}

var overridePageTemplate = template.Must(template.New("overrides").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fragment overrides</title>
</head>
<body>
<main>
<h1>Fragment overrides</h1>
{{if .Problem}}<p role="alert" id="problem"><strong>{{.Problem}}</strong></p>
{{end}}{{if .Active}}<p id="active">Active for this request, from {{.Source}}, until <time datetime="{{.Expires}}">{{.Expires}}</time> ({{.Remaining}} left).</p>
{{if .Rows}}<table id="overrides">
<thead><tr><th scope="col">fragment</th><th scope="col">served from</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td><code>{{.ID}}</code></td><td><code>{{.URL}}</code></td></tr>
{{end}}</tbody>
</table>
{{else}}<p>The token overrides no fragment.</p>
{{end}}<p id="debug">Debug view (<code>?_debug=1</code>): {{if .Debug}}allowed{{else}}not allowed by this token{{end}}.</p>
{{else}}<p id="active">No override is active for this request.</p>
{{end}}{{if .Cookie}}<p id="cookie">The {{"mfe-override"}} cookie holds a token that is ignored: {{.Cookie}}</p>
{{end}}
<form method="post" action="{{.Path}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="token">Token from <code>composer override</code></label><br>
<textarea id="token" name="token" rows="4" cols="80" required spellcheck="false" autocomplete="off"></textarea></p>
<p><button type="submit" name="action" value="set">Use this token in this browser</button></p>
</form>
<form method="post" action="{{.Path}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><button type="submit" name="action" value="clear">Clear the override cookie</button></p>
</form>
<p>The token is kept in an HttpOnly cookie of this site until it expires. Tools other than a browser send it as the <code>{{.Header}}</code> header.</p>
</main>
</body>
</html>
`))
