package stream_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/registry"
)

// The writer hands each fragment's guard the ids of the page's template,
// sync and async slots alike: a fragment's element loses an id the page
// uses, and its references lose the page's ids; its own ids and its
// references to them stay (issue 25, item 5).
func TestFragmentsCannotTakeOrNameThePagesIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	frag := `<form id="checkout"><label for="terms">t</label><input id="own"><label for="own">o</label>` +
		`<button popovertarget="menu" aria-controls="menu own">m</button></form>`
	want := `<form><label>t</label><input id="own"><label for="own">o</label>` +
		`<button aria-controls="own">m</button></form>`
	for _, id := range []string{"sync", "async"} {
		e.register(id, registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
			write(w, frag)
		})})
	}
	_, got := get(t, e.page(`<body><div id="menu" popover></div><micro-frontend id="sync"/><micro-frontend id="async" async/>`+
		`<form id="checkout"><input type="checkbox" id="terms"></form></body>`, nil), nil)
	if n := strings.Count(got, want); n != 2 {
		t.Errorf("want the guarded fragment twice (sync and async), found it %d times in:\n%s", n, got)
	}
}
