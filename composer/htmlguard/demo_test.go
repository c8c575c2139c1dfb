package htmlguard

import (
	"net/http/httptest"
	"testing"

	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/fragments"
)

// BenchmarkGuardDemo guards the demo bookshop's six fragments as the
// composer does: the ids of the demo page reserved, scripts made inert
// under each fragment's own policy.
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
	// The ids of templates/catalog.html.
	ids := map[string]bool{"main": true, "header": true, "product": true, "reviews": true, "reviews-fallback-title": true,
		"recommendations": true, "notifications": true, "footer": true}
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
