package template

import (
	"strings"
	"testing"
)

// client makes a slot the browser fills; client-fallback lets the browser
// try a slot whose server-side fetch failed. Neither goes with a required
// slot (the status cannot wait for the browser), and client not with async.
func TestClientSlotAttributes(t *testing.T) {
	t.Parallel()
	tpl, err := Compile("p.html", []byte(`<body><micro-frontend id="cart" client>skeleton</micro-frontend><micro-frontend id="reco" client-fallback/><micro-frontend id="x"/></body>`))
	if err != nil {
		t.Fatal(err)
	}
	if s := tpl.Slots[0]; !s.Client || s.ClientFallback || string(s.Fallback) != "skeleton" {
		t.Errorf("cart: %+v", s)
	}
	if s := tpl.Slots[1]; s.Client || !s.ClientFallback {
		t.Errorf("reco: %+v", s)
	}
	if s := tpl.Slots[2]; s.Client || s.ClientFallback {
		t.Errorf("x: %+v", s)
	}
	for src, want := range map[string]string{
		`<micro-frontend id="a" client errorbehaviour="error"/>`:          `both client and errorbehaviour="error"`,
		`<micro-frontend id="a" client-fallback errorbehaviour="error"/>`: `both client-fallback and errorbehaviour="error"`,
		`<micro-frontend id="a" client async/>`:                           `both client and async`,
		`<micro-frontend id="a" client="maybe"/>`:                         `client="maybe"`,
	} {
		_, err := Compile("p.html", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}
