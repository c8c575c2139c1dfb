package stream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// countedBody yields chunks of 'x' as big as asked, left of them, and
// counts the reads.
type countedBody struct {
	reads atomic.Int64
	left  atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	if b.left.Add(-1) < 0 {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// readAheadTransport holds "first" until release is closed and answers
// "second" with body.
type readAheadTransport struct {
	release chan struct{}
	body    *countedBody
}

func (t readAheadTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	if req.Endpoint == "mem://first" {
		select {
		case <-t.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(io.LimitReader(neverEnding('a'), 10))}, nil
	}
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(t.body)}, nil
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// A fragment whose turn has not come holds one chunk read ahead, not
// more: with a thousand pages in flight, each waiting fragment's chunks
// are most of the memory (the rest of its answer waits in the socket).
func TestWaitingFragmentReadsOneChunkAhead(t *testing.T) {
	t.Parallel()
	tr := readAheadTransport{release: make(chan struct{}), body: &countedBody{}}
	tr.body.left.Store(8)
	reg := registry.New(map[string]registry.Entry{"first": {Endpoint: "mem://first", Timeout: time.Minute}, "second": {Endpoint: "mem://second", Timeout: time.Minute}})
	tpl, err := template.Compile("p.html", []byte("<!doctype html><html><head><title>t</title></head><body><micro-frontend id=first/><micro-frontend id=second/></body></html>"))
	if err != nil {
		t.Fatal(err)
	}
	c := &stream.Composer{Fetch: tr, Registry: reg}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Serve(&discard{h: http.Header{}}, httptest.NewRequest("GET", "/", nil), &stream.Page{Template: tpl, RequestID: "t"})
	}()
	for tr.body.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // time to read further, if it would
	if n := tr.body.reads.Load(); n != 1 {
		t.Errorf("the waiting fragment's body was read %d times before its turn, want 1", n)
	}
	close(tr.release)
	<-done
	if n := tr.body.reads.Load(); n != 9 {
		t.Errorf("the fragment's body was read %d times in all, want 9 (8 chunks and the end)", n)
	}
}
