package fragments

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
