package main

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/settings"
)

var inlineScript = regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`)

// A page a CDN may keep is the same for every visitor: under the demo's
// strict CSP (settings.DemoCSP) it carries no nonce (a nonce in a cached page would be shared
// by all its visitors), and every inline script of the composer is allowed
// by its hash in the policy.
func TestSharedPageCarriesNoNonceAndItsScriptsAreHashed(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // run builds SDK clients; none may look for instance metadata
	frag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprint(w, "<p>for everyone</p>")
	}))
	defer frag.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<!doctype html><html><body><micro-frontend id="a" errorbehaviour="error"/><micro-frontend id="b" async>...</micro-frontend><micro-frontend id="c" async/></body></html>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"a": %q, "b": %q, "c": %q}`, frag.URL, frag.URL+"/b", frag.URL+"/c"))
	inst := start(t, map[string]string{"COMPOSER_TEMPLATES": dir, "COMPOSER_REGISTRY": regFile, "COMPOSER_CSP": settings.DemoCSP})
	var pages []string
	var policies []string
	for range 10 {
		resp, err := http.Get(inst.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cc := resp.Header.Get("Cache-Control")
		if resp.StatusCode != 200 || !strings.Contains(cc, "public") {
			continue
		}
		pages = append(pages, string(body))
		policies = append(policies, resp.Header.Get("Content-Security-Policy"))
		if len(pages) == 2 {
			break
		}
	}
	if len(pages) < 2 {
		t.Fatal("the page never became shared")
	}
	if policies[0] != policies[1] {
		t.Errorf("two visitors of a shared page got different policies:\n%s\n%s", policies[0], policies[1])
	}
	scripts := 0
	for _, page := range pages {
		if strings.Contains(page, "nonce=") {
			t.Error("a shared page carries a nonce")
		}
		for _, m := range inlineScript.FindAllStringSubmatch(page, -1) {
			if strings.Contains(m[1], "src=") {
				continue
			}
			scripts++
			sum := sha256.Sum256([]byte(m[2]))
			if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(policies[0], h) {
				t.Errorf("inline script %q: %s is not in the policy %q", m[2], h, policies[0])
			}
		}
	}
	if scripts == 0 {
		t.Error("no inline script on the page: the test proves nothing")
	}
}
