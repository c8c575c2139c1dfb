package stream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// answersAtOnce answers every fragment at once, and notes how many
// yields had happened when each request began.
type answersAtOnce struct {
	yields     *atomic.Int64
	yieldsSeen atomic.Int64 // the most seen at a request's start
}

func (a *answersAtOnce) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	a.yieldsSeen.Store(max(a.yieldsSeen.Load(), a.yields.Load()))
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("<p>" + req.Fragment + "</p>"))}, nil
}

// An early page gives up its core once between its head and its fragment
// requests while the process is not busy (yield.go): the head's reader,
// woken on this core, reads it before the requests go. Not when the
// process is busy, not for a page whose head waits for a required
// fragment, not when there is no request to send, not when turned off.
func TestAnEarlyPageYieldsItsCoreBetweenItsHeadAndItsRequests(t *testing.T) {
	const head = "<!doctype html><html><head><title>t</title></head><body><header>Shop</header>"
	var yields atomic.Int64
	var rec *httptest.ResponseRecorder
	headFirst := true
	yieldCore = func() {
		yields.Add(1)
		if !rec.Flushed || !strings.HasPrefix(rec.Body.String(), head) {
			headFirst = false
		}
	}
	defer func() { yieldCore = osYield }()
	reg := registry.New(map[string]registry.Entry{"a": {Endpoint: "http://a.test/"}, "b": {Endpoint: "http://b.test/"}})
	compile := func(body string) *template.Template {
		tpl, err := template.Compile("p.html", []byte(head+body+"</body></html>"))
		if err != nil {
			t.Fatal(err)
		}
		return tpl
	}
	early := compile("<micro-frontend id=a/><micro-frontend id=b/>")
	tr := &answersAtOnce{yields: &yields}
	c := &Composer{Fetch: tr, Registry: reg}
	serve := func(tpl *template.Template) int64 {
		before := yields.Load()
		rec = httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://shop.test/", nil)
		c.Serve(rec, r, &Page{Template: tpl, RequestID: "r"})
		if !strings.Contains(rec.Body.String(), "<p>b</p>") {
			t.Fatalf("page %q, want its fragments", rec.Body.String())
		}
		return yields.Load() - before
	}

	if n := serve(early); n != 1 {
		t.Errorf("an early page alone: %d yields, want 1", n)
	}
	if !headFirst {
		t.Errorf("the yield came before the head was flushed")
	}
	if tr.yieldsSeen.Load() != 1 {
		t.Errorf("the fragment requests began after %d yields, want after the page's one", tr.yieldsSeen.Load())
	}
	if n := serve(compile("<micro-frontend id=a errorbehaviour=error/><micro-frontend id=b/>")); n != 0 {
		t.Errorf("a page with a required fragment: %d yields, want none (its head waits for it)", n)
	}
	c.inFlight.Store(c.yieldBelow() - 1) // with this page, yieldBelow in flight
	if n := serve(early); n != 0 {
		t.Errorf("an early page with the process busy: %d yields, want none", n)
	}
	c.inFlight.Store(0)
	c.YieldBelow = -1
	if n := serve(early); n != 0 {
		t.Errorf("YieldBelow -1: %d yields, want none", n)
	}
}
