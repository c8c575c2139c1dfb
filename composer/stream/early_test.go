package stream_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// flushRecorder is a ResponseWriter that remembers what had been flushed.
type flushRecorder struct {
	h       http.Header
	mu      sync.Mutex
	buf     strings.Builder
	flushed atomic.Value // string: what the last Flush sent
}

func (f *flushRecorder) Header() http.Header { return f.h }
func (f *flushRecorder) WriteHeader(int)     {}
func (f *flushRecorder) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}
func (f *flushRecorder) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed.Store(f.buf.String())
}

// sentAtFetch is a transport that notes, when each request starts, what
// the page had sent to the browser by then.
type sentAtFetch struct {
	page *flushRecorder
	mu   sync.Mutex
	seen []string
}

func (s *sentAtFetch) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	sent, _ := s.page.flushed.Load().(string)
	s.mu.Lock()
	s.seen = append(s.seen, sent)
	s.mu.Unlock()
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("<p>" + req.Fragment + "</p>"))}, nil
}

// A page without a required fragment has its status and headers before
// any fragment answers: the bytes before its first slot leave before the
// fragment requests start, so that the browser's first byte waits neither
// for a dial nor for a request's write (issue 26, item 4).
func TestFirstBytesLeaveBeforeTheFragmentRequests(t *testing.T) {
	t.Parallel()
	const head = "<!doctype html><html><head><title>t</title></head><body><header>Shop</header>"
	tpl, err := template.Compile("p.html", []byte(head+"<micro-frontend id=a/><micro-frontend id=b/><micro-frontend id=c/></body></html>"))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(map[string]registry.Entry{
		"a": {Endpoint: "http://a.test/"}, "b": {Endpoint: "http://b.test/"}, "c": {Endpoint: "http://c.test/"},
	})
	for range 20 {
		w := &flushRecorder{h: http.Header{}}
		tr := &sentAtFetch{page: w}
		c := &stream.Composer{Fetch: tr, Registry: reg}
		r, _ := http.NewRequest("GET", "http://shop.test/", nil)
		c.Serve(w, r, &stream.Page{Template: tpl, RequestID: "r"})
		if len(tr.seen) != 3 {
			t.Fatalf("%d fragment requests, want 3", len(tr.seen))
		}
		for i, sent := range tr.seen {
			if !strings.HasPrefix(sent, head) {
				t.Fatalf("fragment request %d started when the page had sent %q, want its head first", i, sent)
			}
		}
		if !strings.Contains(w.buf.String(), "<p>c</p>") {
			t.Fatalf("page %q lacks its fragments", w.buf.String())
		}
	}
}
