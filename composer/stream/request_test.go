package stream

import (
	"net/http/httptest"
	"testing"

	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// A slot's fragment request is part of the slot: preparing it costs the
// slot's readiness channel and the request's header map, and nothing for
// the request itself, on every fragment of every page.
func TestPreparingASlotAllocatesNoRequestOfItsOwn(t *testing.T) {
	tpl, err := template.Compile("t.html", []byte(`<p><micro-frontend id=f/></p>`))
	if err != nil {
		t.Fatal(err)
	}
	c := &Composer{Registry: registry.New(map[string]registry.Entry{"f": {Endpoint: "http://127.0.0.1:1/f"}})}
	p := &Page{Template: tpl, RequestID: "allocs"}
	r := httptest.NewRequest("GET", "/", nil)
	mode := newPageMode(r)
	var canary canaryState
	var s slot
	allocs := testing.AllocsPerRun(100, func() {
		s = slot{}
		if c.prepare(r, p, 0, &s, &mode, &canary, "") == nil {
			t.Fatal("not prepared")
		}
	})
	// ready; the header map, its table and X-Request-Id's value.
	if allocs > 4 {
		t.Errorf("%v allocations to prepare a slot, want 4", allocs)
	}
}
