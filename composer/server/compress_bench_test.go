package server

import (
	"net/http"
	"strings"
	"testing"
)

// flushDiscard is a ResponseWriter that drops what it gets and counts it.
type flushDiscard struct {
	h http.Header
	n int
}

func (d *flushDiscard) Header() http.Header         { return d.h }
func (d *flushDiscard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *flushDiscard) WriteHeader(int)             {}
func (d *flushDiscard) Flush()                      {}

// BenchmarkCompressPage compresses the harness's s1 page as the composer
// streams it: head, five 2 KB fragments, foot, a flush at each fragment
// boundary. It reports the page's compressed bytes.
func BenchmarkCompressPage(b *testing.B) {
	filler := strings.Repeat("<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\n", 40)
	head := []byte(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bench</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><header><h1>Benchmark page</h1><nav><a href="/">home</a></nav></header>
<main>
`)
	var frags [][]byte
	for i := range 5 {
		open := `<div class="fragment-` + string(rune('0'+i)) + `">`
		frags = append(frags, []byte("<section>"+open+filler[:2048-len(open)-6]+"</div></section>\n"))
	}
	foot := []byte("</main><footer>Footer</footer></body></html>\n")
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(head)
		w.(http.Flusher).Flush()
		for _, f := range frags {
			w.Write(f)
			w.(http.Flusher).Flush()
		}
		w.Write(foot)
	})
	for _, enc := range []string{"none", "gzip", "br", "gzip_light"} {
		b.Run(enc, func(b *testing.B) {
			budget := &compressorBudget{limit: DefaultCompressorBytes}
			r, _ := http.NewRequest("GET", "/", nil)
			switch enc {
			case "gzip_light": // past the compressor budget
				budget.limit = 0
				r.Header.Set("Accept-Encoding", "gzip")
			case "gzip", "br":
				r.Header.Set("Accept-Encoding", enc)
			}
			h := compress(budget, nil)(page)
			b.ReportAllocs()
			var d *flushDiscard
			for b.Loop() {
				d = &flushDiscard{h: http.Header{}}
				h.ServeHTTP(d, r)
			}
			b.ReportMetric(float64(d.n), "bytes/page")
		})
	}
}
