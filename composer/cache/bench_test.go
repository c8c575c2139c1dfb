package cache

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ssr-mfe/composer/composer/fetch"
)

type benchOrigin struct{}

var benchBody = strings.Repeat("<p>fragment content</p>\n", 80)

func (benchOrigin) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	return &fetch.Response{Status: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(strings.NewReader(benchBody))}, nil
}

// BenchmarkCacheHit is one fresh hit, body read.
func BenchmarkCacheHit(b *testing.B) {
	c := New(benchOrigin{}, 64<<20, nil)
	req := &fetch.Request{Endpoint: "http://a/", RawQuery: "id=1", Header: http.Header{"Accept-Language": {"en"}}}
	fetchAll := func() {
		resp, err := c.Fetch(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fetchAll()
	b.ReportAllocs()
	for b.Loop() {
		fetchAll()
	}
}
