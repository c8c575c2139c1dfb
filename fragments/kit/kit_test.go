package kit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ssr-mfe/composer/fragments/kit"
)

func hello() kit.Fragment {
	return kit.Fragment{
		Name: "hello", CSS: []string{"/static/hello.css"}, JS: []string{"/static/hello.js"}, LinkHeaders: true,
		CacheControl: "public, max-age=30",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if kit.Param(r, "id") == "missing" {
				http.NotFound(w, r)
				return
			}
			c, _ := r.Cookie("session")
			sess := ""
			if c != nil {
				sess = c.Value
			}
			http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1"})
			fmt.Fprintf(w, "<p>hello %s %s %s %s</p>", kit.Param(r, "id"), kit.Param(r, "lang"), r.Header.Get("Accept-Language"), sess)
		}),
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	s := httptest.NewServer(hello().HTTP())
	defer s.Close()
	resp, err := http.Get(s.URL + "/?id=7&lang=de")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "<p>hello 7 de  </p>" {
		t.Errorf("body %q", body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=30" {
		t.Errorf("Cache-Control %q", cc)
	}
	if links := strings.Join(resp.Header.Values("Link"), ", "); links != "</static/hello.css>; rel=stylesheet, </static/hello.js>; rel=modulepreload" {
		t.Errorf("Link %q", links)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	resp, _ = http.Get(s.URL + "/?id=missing")
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Cache-Control") != "" {
		t.Errorf("404: %d, Cache-Control %q (not for errors)", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestLambda(t *testing.T) {
	t.Parallel()
	h := hello().Lambda()
	resp, err := h(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath: "/product/7", RawQueryString: "lang=de&id=fromquery",
		PathParameters: map[string]string{"id": "7", "extra": "x"},
		Headers:        map[string]string{"accept-language": "de-DE"},
		Cookies:        []string{"session=abc", "other=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Body != "<p>hello fromquery de de-DE abc</p>" {
		t.Errorf("response %d %q (the query wins over a path parameter of the same name)", resp.StatusCode, resp.Body)
	}
	if resp.Headers["Cache-Control"] != "public, max-age=30" || len(resp.Cookies) != 1 || !strings.HasPrefix(resp.Cookies[0], "seen=1") {
		t.Errorf("headers %v cookies %v", resp.Headers, resp.Cookies)
	}
	if links := resp.MultiValueHeaders["Link"]; len(links) != 2 {
		t.Errorf("Link headers %v", links)
	}
	resp, _ = h(context.Background(), events.APIGatewayV2HTTPRequest{PathParameters: map[string]string{"id": "missing"}})
	if resp.StatusCode != 404 {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}

func TestEntry(t *testing.T) {
	t.Parallel()
	if got := string(hello().Entry("https://hello.internal/")); got != `{"assets":{"css":["/static/hello.css"],"js":["/static/hello.js"]},"endpoint":"https://hello.internal/"}` {
		t.Errorf("Entry = %s", got)
	}
}
