package stream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// recordingTransport answers every request at once and records it.
type recordingTransport struct {
	mu   sync.Mutex
	reqs map[string]*fetch.Request // by endpoint
}

func (t *recordingTransport) Presend(context.Context, *fetch.Request) bool { return true }

func (t *recordingTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	t.mu.Lock()
	t.reqs[req.Endpoint] = req
	t.mu.Unlock()
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("<p>" + req.Slot + "</p>"))}, nil
}

// A page's slots whose entries forward nothing of their own share one
// request Header (made once a page, not once a slot: about 400 bytes and
// the header's work a slot), each naming its slot apart; an entry with a
// forward list has a Header of its own. Old code made a Header for every
// slot.
func TestAPagesPlainSlotsShareOneHeader(t *testing.T) {
	tr := &recordingTransport{reqs: map[string]*fetch.Request{}}
	tpl, err := template.Compile("t.html", []byte(`<micro-frontend id=a/><micro-frontend id=b/><micro-frontend id=c/><micro-frontend id=d/>`))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(map[string]registry.Entry{
		"a": {Endpoint: "mem://a"}, "b": {Endpoint: "mem://b"}, "c": {Endpoint: "mem://c"},
		"d": {Endpoint: "mem://d", ForwardHeaders: []string{"X-Basket"}},
	})
	c := &stream.Composer{Fetch: tr, Registry: reg}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Basket", "3")
	r.Header.Set("User-Agent", "browser")
	c.Serve(w, r, &stream.Page{Template: tpl, RequestID: "shared"})
	if got := w.Body.String(); got != "<p>s0</p><p>s1</p><p>s2</p><p>s3</p>" {
		t.Fatalf("page %q", got)
	}
	a, b, cc, d := tr.reqs["mem://a"], tr.reqs["mem://b"], tr.reqs["mem://c"], tr.reqs["mem://d"]
	same := func(x, y http.Header) bool {
		return reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(y).UnsafePointer()
	}
	if !same(a.Header, b.Header) || !same(a.Header, cc.Header) {
		t.Error("the plain slots' requests have Headers of their own, want one shared")
	}
	if same(a.Header, d.Header) || d.Header.Get("X-Basket") != "3" || a.Header.Get("X-Basket") != "" {
		t.Errorf("the forwarding entry's Header: %v; the shared one: %v", d.Header, a.Header)
	}
	for _, h := range []http.Header{a.Header, d.Header} {
		if h.Get("X-Request-Id") != "shared" || h.Get("User-Agent") != "browser" || h.Get(fetch.SlotHeader) != "" {
			t.Errorf("a fragment request's Header: %v", h)
		}
	}
}

// traceparents is a transport that cannot send ahead (each fragment is
// fetched on a goroutine of its own, as a cache hit's or a hedged one's)
// and records the traceparent each endpoint got.
type traceparents struct {
	mu   sync.Mutex
	seen map[string]string
}

func (t *traceparents) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	time.Sleep(time.Millisecond) // while the page starts its next fragments' spans
	t.mu.Lock()
	t.seen[req.Endpoint] = req.Header.Get("Traceparent")
	t.mu.Unlock()
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("<p></p>"))}, nil
}

// With tracing, each fragment request carries its own span's traceparent
// though the page's slots share a Header: the span's is set on a copy.
// (Set on the shared Header, a fragment fetched on a goroutine read it
// while the page set the next one's: a data race, and the wrong span.)
func TestEachFragmentGetsItsOwnTraceparentFromASharedHeader(t *testing.T) {
	tr := &traceparents{seen: map[string]string{}}
	var src strings.Builder
	entries := map[string]registry.Entry{}
	for _, id := range []string{"a", "b", "c", "d"} {
		entries[id] = registry.Entry{Endpoint: "mem://" + id}
		src.WriteString("<micro-frontend id=" + id + "/>")
	}
	tpl, err := template.Compile("t.html", []byte(src.String()))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	c := &stream.Composer{Fetch: tr, Registry: registry.New(entries), Tracer: tp.Tracer("test")}
	c.Serve(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), &stream.Page{Template: tpl, RequestID: "traced"})
	spans := map[string]bool{}
	for id, tp := range tr.seen {
		if tp == "" || spans[tp] {
			t.Errorf("%s got traceparent %q (all: %v)", id, tp, tr.seen)
		}
		spans[tp] = true
	}
	if len(spans) != 4 {
		t.Errorf("%d distinct traceparents for 4 fragments: %v", len(spans), tr.seen)
	}
}
