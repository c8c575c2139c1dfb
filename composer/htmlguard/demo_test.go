package htmlguard

import (
	"net/http/httptest"
	"testing"

	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/fragments"
	"github.com/ssr-mfe/composer/templates"
)

// BenchmarkGuardDemo guards the demo bookshop's six fragments (product 1)
// as the composer does: the ids of the demo page's template reserved,
// scripts made inert under each fragment's own policy.
func BenchmarkGuardDemo(b *testing.B) {
	type frag struct {
		body    []byte
		scripts *Scripts
	}
	var frags []frag
	size := 0
	for _, f := range fragments.All(0) {
		rec := httptest.NewRecorder()
		f.HTTP().ServeHTTP(rec, httptest.NewRequest("GET", "/?id=1", nil))
		frags = append(frags, frag{rec.Body.Bytes(), &Scripts{Policy: inert.ParsePolicy(rec.Header().Values("Content-Security-Policy"))}})
		size += rec.Body.Len()
	}
	// The ids the demo page's template reserves.
	set, err := template.LoadSet(templates.FS)
	if err != nil {
		b.Fatal(err)
	}
	ids := set.Templates["catalog.html"].IDs
	if len(ids) == 0 {
		b.Fatal("the demo page reserves no ids")
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	emit := func([]byte) {}
	for b.Loop() {
		for _, f := range frags {
			g := Guard{Reserved: ids, Scripts: f.scripts}
			g.Write(f.body, emit)
			g.Close(emit)
		}
	}
}
