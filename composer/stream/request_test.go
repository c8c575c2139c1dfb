package stream

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"unsafe"

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
		if c.prepare(r, p, 0, &s, &mode, &canary, "", nil) == nil {
			t.Fatal("not prepared")
		}
	})
	// ready; the header map, its table and X-Request-Id's value.
	if allocs > 4 {
		t.Errorf("%v allocations to prepare a slot, want 4", allocs)
	}
	// A page's later slots share its Header: ready alone.
	var shared http.Header
	c.prepare(r, p, 0, &s, &mode, &canary, "", &shared)
	allocs = testing.AllocsPerRun(100, func() {
		s = slot{}
		if c.prepare(r, p, 0, &s, &mode, &canary, "", &shared) == nil {
			t.Fatal("not prepared")
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations to prepare a page's later slot, want 1", allocs)
	}
}

// A slot refers to its registry entry, shared and never changed, instead
// of holding a copy of it (256 bytes): a page's slots are one allocation,
// five of them 3 KB rather than 4.3 KB, on every page. The slot holds its
// fragment's clock (about 110 bytes, an allocation of its own before).
func TestASlotHoldsNoCopyOfItsEntry(t *testing.T) {
	if size := unsafe.Sizeof(slot{}); size > 640 {
		t.Errorf("a slot is %d bytes, want at most 640", size)
	}
}
