package stream_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// failingWriter fails every write after the page's second flush, or once
// a megabyte has been written, as a connection past its write deadline
// does (its socket buffers long full); nothing cancels the request's
// context. (The first flush is the page's head, which leaves before the
// fragment requests start: failing after it, the page would stop before
// any request is in flight. A page whose fragment's bytes are always
// there when it reads them never waits, so never flushes: the megabyte
// ends it, as a real socket's deadline would; without it, the test was
// flaky under -race.)
type failingWriter struct {
	h       http.Header
	flushes atomic.Int64
	written atomic.Int64
}

func (f *failingWriter) Header() http.Header { return f.h }
func (f *failingWriter) WriteHeader(int)     {}
func (f *failingWriter) Write(p []byte) (int, error) {
	if f.flushes.Load() >= 2 || f.written.Add(int64(len(p))) > 1<<20 {
		return 0, errors.New("write deadline exceeded")
	}
	return len(p), nil
}
func (f *failingWriter) FlushError() error {
	f.flushes.Add(1)
	return nil
}

// Once a write fails, the page stops: it reads no more of its fragments
// and waits for no more async ones, and their requests are cancelled as
// Serve returns.
func TestFailedWriteStopsThePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cancelled := make(chan string, 2)
	e.register("big", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer func() { cancelled <- "big" }()
		chunk := []byte(strings.Repeat("<p>endless</p>", 1000))
		for end := time.Now().Add(2 * safety); time.Now().Before(end); {
			if _, err := w.Write(chunk); err != nil || r.Context().Err() != nil {
				return
			}
		}
	}), Timeout: time.Hour})
	lateAsked := make(chan struct{})
	e.register("quick", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-lateAsked // so that late is in flight when the page fails
		write(w, "<p>quick</p>")
	})})
	e.register("late", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(lateAsked)
		select {
		case <-r.Context().Done():
			cancelled <- "late"
		case <-time.After(2 * safety): // bounded, should the test fail
		}
	}), Timeout: time.Hour})
	e.composer.MaxFragmentBytes = 1 << 40
	e.page("", nil) // sets the registry
	for _, src := range []string{
		`<p>head</p><micro-frontend id=big/><p>tail</p>`,
		`<p>head</p><micro-frontend id=quick async/><micro-frontend id=late async/></body>`,
	} {
		tpl, err := template.Compile("p.html", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.composer.Serve(&failingWriter{h: http.Header{}}, httptest.NewRequest("GET", "/", nil), &stream.Page{Template: tpl})
		}()
		select {
		case <-done:
		case <-time.After(safety):
			t.Fatalf("%s: Serve did not return after its writes failed", src)
		}
		select {
		case <-cancelled:
		case <-time.After(safety):
			t.Fatalf("%s: the fragment request was not cancelled", src)
		}
	}
}
