package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// assetRef is a /static/ URL in an href or src attribute, or in a Link
// header.
var assetRef = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"|<(/static/[^>]+)>`)

// fingerprinted is an asset name with the content's hash in it:
// name.<12 hex digits>.ext.
var fingerprinted = regexp.MustCompile(`\.([0-9a-f]{12})\.[a-z0-9]+$`)

// The demo's pages link every stylesheet, script and image by a name
// that holds a hash of its content, and those names are served to be kept
// for a year: a changed file has a new name, so nothing is served stale.
func TestDemoAssetsAreFingerprinted(t *testing.T) {
	inst := start(t, nil)
	seen := map[string]bool{}
	for _, path := range []string{"/productdetails", "/product/3", "/product/999", "/productdetails?fail=product"} {
		resp, err := http.Get(inst.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(body) + "\n" + strings.Join(resp.Header.Values("Link"), ",")
		refs := assetRef.FindAllStringSubmatch(text, -1)
		if len(refs) == 0 {
			t.Errorf("%s links no /static/ asset", path)
		}
		for _, m := range refs {
			u := m[1] + m[2]
			if !fingerprinted.MatchString(u) {
				t.Errorf("%s links %s, a name without its content's hash", path, u)
				continue
			}
			seen[u] = true
		}
	}
	for u := range seen {
		resp, err := http.Get(inst.base + u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", u, resp.StatusCode)
			continue
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q, want public, max-age=31536000, immutable", u, cc)
		}
		sum := sha256.Sum256(body)
		if got := fingerprinted.FindStringSubmatch(u)[1]; got != hex.EncodeToString(sum[:])[:12] {
			t.Errorf("%s: the name's hash %s is not its content's (%x)", u, got, sum[:6])
		}
	}
	// The plain names still answer (registries written by hand use
	// them), but are kept only briefly.
	resp, err := http.Get(inst.base + "/static/shell/shell.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || strings.Contains(cc, "immutable") {
		t.Errorf("/static/shell/shell.css: %d, Cache-Control %q", resp.StatusCode, cc)
	}
}
