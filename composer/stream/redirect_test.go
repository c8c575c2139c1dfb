package stream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
)

// A required fragment's redirect becomes the page's only when it is an
// http or https location; one on the fragment's own host becomes a path
// that starts with a single "/". Anything else fails the fragment: 502.
func TestRequiredFragmentRedirectLocations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		location func(host string) string // host: the fragment server's
		status   int
		want     string // the page's Location
	}{
		{"own host path", func(h string) string { return "http://" + h + "/login?next=1" }, 302, "/login?next=1"},
		{"own host bare", func(h string) string { return "http://" + h }, 302, "/"},
		{"own host bare with query", func(h string) string { return "http://" + h + "?a=1" }, 302, "/?a=1"},
		{"own host double slash", func(h string) string { return "http://" + h + "//evil.example/x" }, 502, ""},
		{"own host backslash", func(h string) string { return "http://" + h + `/\evil.example` }, 502, ""},
		{"own host encoded slash", func(h string) string { return "http://" + h + "/%2F%2Fevil.example" }, 502, ""},
		{"own host dot segments resolved", func(h string) string { return "http://" + h + "/a/../b/./c" }, 302, "/b/c"},
		{"own host upper case", func(h string) string { return "http://" + strings.ToUpper("x" + h)[1:] + "/up" }, 302, "/up"},
		{"own host trailing dot", func(h string) string { return "http://" + strings.Replace(h, ":", ".:", 1) + "/dot" }, 302, "/dot"},
		{"own host port with a leading zero", func(h string) string { return "http://" + strings.Replace(h, ":", ":0", 1) + "/zero" }, 302, "/zero"},
		{"own host as localhost", func(h string) string { return "http://" + strings.Replace(h, "127.0.0.1", "localhost", 1) + "/lh" }, 302, "/lh"},
		{"own host as [::1]", func(h string) string { return "http://" + strings.Replace(h, "127.0.0.1", "[::1]", 1) + "/v6" }, 302, "/v6"},
		{"own host scheme-relative", func(h string) string { return "//" + h + "/sr" }, 302, "/sr"},
		{"relative path", func(string) string { return "/cart" }, 302, "/cart"},
		// A relative location is resolved against the page, as the browser
		// resolves a reference on it, never against the endpoint: its path
		// and query (secret=internaltoken) are the composer's business.
		{"relative to the page", func(string) string { return "login" }, 302, "/shop/login"},
		{"relative up", func(string) string { return "../x" }, 302, "/x"},
		{"fragment only", func(string) string { return "#frag" }, 302, "/shop/item?id=7#frag"},
		{"query only", func(string) string { return "?a=1" }, 302, "/shop/item?a=1"},
		{"empty is no redirect", func(string) string { return "" }, 502, ""},
		{"dot", func(string) string { return "." }, 302, "/shop/"},
		{"relative backslash", func(string) string { return `/\evil.example` }, 502, ""},
		{"relative backslashes", func(string) string { return `\\evil.example` }, 502, ""},
		{"scheme-relative is the fragment's scheme, elsewhere", func(string) string { return "//shop.example/x" }, 302, "http://shop.example/x"},
		{"elsewhere https", func(string) string { return "https://shop.example/p/2" }, 302, "https://shop.example/p/2"},
		{"javascript", func(string) string { return "javascript:alert(1)" }, 502, ""},
		{"data", func(string) string { return "data:text/html,<script>alert(1)</script>" }, 502, ""},
		{"ftp", func(string) string { return "ftp://files.example/x" }, 502, ""},
		{"http without host", func(string) string { return "http:evil.example" }, 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.register("main", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", tt.location(r.Host))
				w.WriteHeader(http.StatusFound)
			}) + "/frag/internal?secret=internaltoken"})
			resp, body := get(t, e.page(`<p>head</p><micro-frontend id=main errorbehaviour=error/>`, nil)+"/shop/item?id=7", nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if loc, ok := resp.Header["Location"]; tt.want == "" && ok || tt.want != "" && (len(loc) != 1 || loc[0] != tt.want) {
				t.Errorf("Location %q, want %q", loc, tt.want)
			}
			if loc := resp.Header.Get("Location"); strings.Contains(loc, "secret") || strings.Contains(loc, "internal") || strings.Contains(loc, "127.0.0.1") {
				t.Errorf("Location %q shows the fragment's endpoint", loc)
			}
			if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "evil") {
				t.Errorf("the page shows the fragment's location: %q", body)
			}
		})
	}
}

// locationTransport answers every request with a 302 to loc, as a Lambda
// fragment's reply would.
type locationTransport string

func (l locationTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	return &fetch.Response{Status: http.StatusFound, Header: http.Header{"Location": {string(l)}}, Body: io.NopCloser(strings.NewReader(""))}, nil
}

// An endpoint that is not a URL (a function) has no host of its own: a
// path is kept, with the same rule on its start.
func TestRedirectFromFunctionEndpoint(t *testing.T) {
	t.Parallel()
	for loc, want := range map[string]string{
		"/login":               "/login",
		"https://id.example/x": "https://id.example/x",
		"//evil.example/x":     "",
		`/\evil.example`:       "",
		"login":                "/login", // resolved against the page, "/"
		"?a=1":                 "/?a=1",
		`\\evil.example`:       "",
		"javascript:alert(1)":  "",
	} {
		e := newEnv(t)
		e.composer.Fetch = locationTransport(loc)
		e.register("main", registry.Entry{Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:main"})
		resp, _ := get(t, e.page(`<micro-frontend id=main errorbehaviour=error/>`, nil), nil)
		wantStatus := 302
		if want == "" {
			wantStatus = 502
		}
		if got := resp.Header.Get("Location"); resp.StatusCode != wantStatus || got != want {
			t.Errorf("%q: %d %q, want %d %q", loc, resp.StatusCode, got, wantStatus, want)
		}
	}
}

// A required fragment allowed to set cookies that answers a redirect with
// Set-Cookie (a login step) redirects the page with that cookie; the
// redirect is no-store (RFC 9111 §5.2.2.5). A fragment not allowed to set
// cookies still passes none.
func TestRequiredFragmentRedirectKeepsItsAllowedSetCookie(t *testing.T) {
	t.Parallel()
	for _, allowed := range []bool{true, false} {
		t.Run(fmt.Sprintf("setCookie=%v", allowed), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.register("login", registry.Entry{SetCookie: allowed, Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1", Path: "/", HttpOnly: true})
				http.SetCookie(w, &http.Cookie{Name: "csrf", Value: "c1", Path: "/"})
				w.Header().Set("Location", "/account")
				w.WriteHeader(http.StatusFound)
			})})
			resp, _ := get(t, e.page(`<micro-frontend id=login errorbehaviour=error/>`, nil), nil)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/account" {
				t.Fatalf("%d %q, want 302 to /account", resp.StatusCode, resp.Header.Get("Location"))
			}
			want := []string{"session=s1; Path=/; HttpOnly", "csrf=c1; Path=/"}
			if !allowed {
				want = nil
			}
			if got := resp.Header.Values("Set-Cookie"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Set-Cookie %q, want %q", got, want)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

// The host comparison that turns a location on the endpoint's own host
// into a path, and the resolution of relative locations against the page
// (issue 12, finding F5).
func TestRedirectLocationHostsAndBase(t *testing.T) {
	t.Parallel()
	page, _ := url.Parse("/r2?loc=%23frag")
	for _, tt := range []struct{ endpoint, loc, want string }{
		{"http://127.0.0.1:19101/redir?secret=internaltoken", "#frag", "/r2?loc=%23frag#frag"},
		{"http://127.0.0.1:19101/redir?secret=internaltoken", "?x=1", "/r2?x=1"},
		{"http://127.0.0.1:19101/a/b/redir?secret=internaltoken", "c", "/c"},
		{"http://frag.internal/x?secret=1", "http://FRAG.INTERNAL./y", "/y"},
		{"http://frag.internal/x", "http://frag.internal:80/y", "/y"},
		{"http://frag.internal/x", "http://frag.internal:0080/y", "/y"},
		{"http://frag.internal/x", "//frag.internal/y", "/y"},
		{"https://frag.internal", "https://frag.internal:443/z", "/z"},
		{"http://frag.internal:8080", "http://frag.internal/z", "http://frag.internal/z"},
		{"http://frag.internal", "https://frag.internal/z", "https://frag.internal/z"},
		{"http://frag.internal", "http://localhost/x", "http://localhost/x"},
		{"http://127.0.0.1:19101/", "http://127.0.0.1:019101/a", "/a"},
		{"http://127.0.0.1:19101/", "http://localhost:19101/a", "/a"},
		{"http://127.0.0.1:19101/", "http://LOCALHOST.:19101/a", "/a"},
		{"http://127.0.0.1:19101/", "http://[::1]:19101/a", "/a"},
		{"http://[::1]:8080/", "http://127.0.0.1:8080/a", "/a"},
		{"http://localhost:8080", "http://[0:0:0:0:0:0:0:1]:8080/a", "/a"},
		{"http://127.0.0.1:19101/", "http://127.0.0.1:19102/a", "http://127.0.0.1:19102/a"},
		{"http://127.0.0.1:19101/", "http://127.0.0.1:19101//evil.example", ""},
		{"http://127.0.0.1:19101/", `\\evil.example`, ""},
		{"http://127.0.0.1:19101/", `/\evil.example`, ""},
	} {
		got, ok := stream.RedirectLocation(tt.loc, tt.endpoint, page)
		if !ok {
			got = ""
		}
		if got != tt.want {
			t.Errorf("%s from %s: %q, want %q", tt.loc, tt.endpoint, got, tt.want)
		}
	}
}
