package fragments

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestSwitches(t *testing.T) {
	t.Parallel()
	h := Switches("reviews", Reviews())
	if code, _ := get(t, h, "/?fail=header,reviews"); code != http.StatusServiceUnavailable {
		t.Errorf("?fail=reviews: %d", code)
	}
	if code, body := get(t, h, "/?fail=header&slow=product"); code != 200 || !strings.Contains(body, "review-list") {
		t.Errorf("other names: %d", code)
	}
}

// A page with a switch is never served from the composer's fragment cache,
// so each README example shows the same on every load; without a switch a
// fragment keeps its own Cache-Control.
func TestSwitchedAnswersAreNotStored(t *testing.T) {
	t.Parallel()
	for _, f := range All(0) {
		h := Switches(f.Name, f.HTTP())
		for target, want := range map[string]string{
			"/?id=2":                         f.CacheControl,
			"/?id=2&slow=reviews:1ms":        "private, no-store",
			"/?id=2&fail=nothing":            "private, no-store",
			"/?id=2&slow=" + f.Name + ":1ms": "private, no-store",
		} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
			if got := w.Result().Header.Get("Cache-Control"); got != want {
				t.Errorf("%s %s: Cache-Control %q, want %q", f.Name, target, got, want)
			}
		}
	}
}

func TestFragmentsRender(t *testing.T) {
	t.Parallel()
	for _, f := range All(0) {
		code, body := get(t, f.Handler, "/?id=2")
		if code != 200 || body == "" {
			t.Errorf("%s: %d %q", f.Name, code, body)
		}
	}
	if code, _ := get(t, Product(), "/?id=99"); code != 404 {
		t.Errorf("unknown product: %d, want 404", code)
	}
}

func TestStaticAssetsExist(t *testing.T) {
	t.Parallel()
	for _, f := range All(0) {
		for _, a := range append(append([]string{}, f.CSS...), f.JS...) {
			if code, _ := get(t, Static(), a); code != 200 {
				t.Errorf("%s asset %s: %d", f.Name, a, code)
			}
		}
	}
	for id, b := range books {
		if code, _ := get(t, Static(), b.Cover); code != 200 {
			t.Errorf("cover of book %s: %d", id, code)
		}
	}
}

// Every static file is served by its fingerprinted name, to be kept a
// year, with the same bytes as by its plain name, kept five minutes; the
// name changes when the content does.
func TestStaticFingerprintedNames(t *testing.T) {
	t.Parallel()
	if len(assetNames) < 10 {
		t.Fatalf("%d static files fingerprinted", len(assetNames))
	}
	for plain, named := range assetNames {
		if named == plain || Plain(named) != plain || Asset(plain) != named {
			t.Errorf("%s: named %s, back %s", plain, named, Plain(named))
		}
		rec := httptest.NewRecorder()
		Static().ServeHTTP(rec, httptest.NewRequest("GET", named, nil))
		byName, cc := rec.Body.String(), rec.Header().Get("Cache-Control")
		rec = httptest.NewRecorder()
		Static().ServeHTTP(rec, httptest.NewRequest("GET", plain, nil))
		if cc != "public, max-age=31536000, immutable" || rec.Header().Get("Cache-Control") != "public, max-age=300" || byName != rec.Body.String() || byName == "" {
			t.Errorf("%s (%s): Cache-Control %q and %q, same bytes: %v", named, plain, cc, rec.Header().Get("Cache-Control"), byName == rec.Body.String())
		}
	}
	a, _ := fingerprintAll(fstest.MapFS{"static/a.css": {Data: []byte("a {}")}}, "static")
	b, _ := fingerprintAll(fstest.MapFS{"static/a.css": {Data: []byte("a { color: red }")}}, "static")
	if a["/static/a.css"] == b["/static/a.css"] {
		t.Errorf("a changed file kept its name %s", a["/static/a.css"])
	}
	files := map[string][]byte{"p.html": []byte(`<link href="/static/shell/shell.css"><a href="/static/shell/shell.css.bak">`), "routes.json": []byte(`"/static/shell/shell.css"`)}
	FingerprintLinks(files)
	if want := `<link href="` + Asset("/static/shell/shell.css") + `"><a href="/static/shell/shell.css.bak">`; string(files["p.html"]) != want || string(files["routes.json"]) != `"/static/shell/shell.css"` {
		t.Errorf("FingerprintLinks: %q, %q", files["p.html"], files["routes.json"])
	}
}
