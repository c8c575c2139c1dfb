package stream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// heldTransport sends ahead (the page reads each answer on its own
// goroutine, as a plain-http fragment's) and answers "mem://a" at once,
// keeping only weak pointers to that answer and its header's value, and
// "mem://b" with a body whose read waits for release.
type heldTransport struct {
	answer  chan weak.Pointer[fetch.Response]
	value   chan weak.Pointer[string]
	reading chan struct{} // b's body is being read
	release chan struct{}
}

func (heldTransport) Presend(context.Context, *fetch.Request) bool { return true }

func (t heldTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	if req.Endpoint == "mem://b" {
		return &fetch.Response{Status: 200, Header: http.Header{}, Body: &waitingBody{t: t}}, nil
	}
	v := []string{strings.Repeat("v", 64)}
	resp := &fetch.Response{Status: 200, Header: http.Header{"X-Fragment": v}, Body: io.NopCloser(strings.NewReader("<p>a</p>"))}
	t.answer <- weak.Make(resp)
	t.value <- weak.Make(&v[0])
	return resp, nil
}

type waitingBody struct {
	t    heldTransport
	read bool
}

func (b *waitingBody) Read(p []byte) (int, error) {
	if b.read {
		return 0, io.EOF
	}
	b.read = true
	close(b.t.reading)
	<-b.t.release
	return copy(p, "<p>b</p>"), nil
}

func (b *waitingBody) Close() error { return nil }

// A page lets go of a fragment's answer once it has written it: while it
// streams a later fragment, the earlier one's answer and header are
// garbage (about 1.5 KB a fragment from the wire). Old code kept every
// answer in its slot until the page ended: a page streaming its fifth
// fragment held the four before.
func TestAWrittenFragmentsAnswerIsLetGo(t *testing.T) {
	tr := heldTransport{
		answer:  make(chan weak.Pointer[fetch.Response], 1),
		value:   make(chan weak.Pointer[string], 1),
		reading: make(chan struct{}),
		release: make(chan struct{}),
	}
	tpl, err := template.Compile("t.html", []byte(`<micro-frontend id=a/><micro-frontend id=b/>`))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(map[string]registry.Entry{"a": {Endpoint: "mem://a"}, "b": {Endpoint: "mem://b"}})
	c := &stream.Composer{Fetch: tr, Registry: reg}
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Serve(w, httptest.NewRequest("GET", "/", nil), &stream.Page{Template: tpl, RequestID: "letgo"})
	}()
	answer, value := <-tr.answer, <-tr.value
	select {
	case <-tr.reading:
	case <-time.After(safety):
		t.Fatal("the page never read the second fragment")
	}
	// The page waits in b's body: a is written.
	for range 3 {
		runtime.GC()
	}
	answerKept, valueKept := answer.Value() != nil, value.Value() != nil
	close(tr.release)
	<-done
	if got := w.Body.String(); got != "<p>a</p><p>b</p>" {
		t.Fatalf("page %q", got)
	}
	if answerKept {
		t.Error("the first fragment's answer is still held while the page streams the second")
	}
	if valueKept {
		t.Error("the first fragment's header is still held while the page streams the second")
	}
}
