package stream_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/goroutines"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
)

// A fragment that is not being written holds none of its body in the
// process: its answer waits in its socket (the kernel's memory, not the
// process's) until the page reaches the slot. Sent ahead, it has no
// goroutine and takes no chunk; fetched on a goroutine of its own (a
// transport that cannot send ahead), it holds one chunk, its queue's, and
// no more. With a thousand pages of five big fragments, four of each page
// wait behind the first: a chunk read ahead into the pump's hand was
// 8 KiB each, 32 MB. The wait is the composer's, not the fragment's: it
// does not count against the fragment's deadline (breaker/waiting_test.go).
//
// Not parallel: pumpWaits looks at every goroutine of the process, and
// another test's pump waiting would pass for b's.
func TestAFragmentNotBeingWrittenHoldsOnlyItsQueue(t *testing.T) {
	for _, ahead := range []bool{true, false} {
		e := newEnv(t)
		e.composer.ChunkSize = 16
		e.composer.QueueChunks = 1
		if !ahead {
			e.composer.Fetch = struct{ fetch.Transport }{e.composer.Fetch} // no Presend
		}
		release := make(gate)
		e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
			if release.wait(r) {
				write(w, "[A]")
			}
		})})
		big := strings.Repeat("0123456789abcdef", 10) // ten chunks
		bSent := make(chan struct{})
		e.register("b", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
			write(w, big)
			close(bSent)
		})})
		_, body := open(t, e.page(`H<micro-frontend id=a/>-<micro-frontend id=b/>`, nil))
		select {
		case <-bSent:
		case <-time.After(safety):
			t.Fatal("b never answered")
		}
		want := int64(0)
		if !ahead {
			// b's whole body has come; its pump has filled the queue and
			// waits.
			want = 1
			for end := time.Now().Add(safety); e.composer.ChunksMade() == 0 || !pumpWaits(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatal("b's pump never waited for the page writer")
				}
			}
		}
		if got := e.composer.ChunksMade(); got != want {
			t.Errorf("sent ahead %v: a fragment waiting behind another: %d chunks held, want %d", ahead, got, want)
		}
		close(release)
		if got := body.rest(); got != "H[A]-"+big {
			t.Errorf("sent ahead %v: page = %q", ahead, got)
		}
	}
}

// pumpWaits reports whether a fragment's pump is parked on the page
// writer (its queue full), not reading.
func pumpWaits() bool {
	for _, g := range goroutines.Stacks() {
		if strings.Contains(g, "(*Composer).pump") && (strings.Contains(g, "[select") || strings.Contains(g, "[chan send")) {
			return true
		}
	}
	return false
}

// Copying a fragment's body allocates nothing per chunk: a chunk goes
// back to the pool as it came out (no new pointer to it), and the guard
// writes through one function value per page, not one per chunk. A
// 64 KB fragment is eight chunks, a thousand pages of five such are forty
// thousand: garbage that only raises the heap the collector lets grow.
//
// Not parallel: it counts the process's allocations.
func TestCopyingAFragmentAllocatesNothingPerChunk(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops chunks on purpose")
	}
	const size = 64
	allocs := func(chunks int) float64 {
		mem := memTransport{"mem://f": strings.Repeat("x", chunks*size)}
		tpl, err := template.Compile("t.html", []byte(`<p><micro-frontend id=f/></p>`))
		if err != nil {
			t.Fatal(err)
		}
		c := &stream.Composer{Fetch: mem, Registry: registry.New(map[string]registry.Entry{"f": {Endpoint: "mem://f"}}), ChunkSize: size}
		page := &stream.Page{Template: tpl, RequestID: "allocs"}
		r := httptest.NewRequest("GET", "/", nil)
		return testing.AllocsPerRun(50, func() { c.Serve(&discard{h: http.Header{}}, r, page) })
	}
	few, many := allocs(2), allocs(42)
	if per := (many - few) / 40; per > 0.1 {
		t.Errorf("a page of 2 chunks: %.1f allocations, of 42 chunks: %.1f: %.2f a chunk, want none", few, many, per)
	}
}

// aheadMem is memTransport that sends ahead: the page reads every sync
// slot's answer on its own goroutine, as it does a plain-http fragment's.
type aheadMem struct{ memTransport }

func (aheadMem) Presend(context.Context, *fetch.Request) bool { return true }

// Beginning a slot's fetch allocates nothing of its own: no function
// value a slot to start it later, no channel or wait group moved to the
// heap for it, and its clock is part of the slot. Old code made a closure
// for every slot of every page (and moved the page's async channel to the
// heap for them), and a clock of its own for every fragment. Writing it
// takes the page's guard, its buffers kept from the slot before, and the
// page's Scripts: 12 allocations a slot before, a guard's stack and a
// Scripts each. A slot read inline has no readiness channel (only a slot
// fetched on a goroutine is waited for on one), and its clock is the
// Stopper of the wire's registration: 8 and 9 a slot before.
//
// Not parallel: it counts the process's allocations.
func TestBeginningASlotAllocatesNothingOfItsOwn(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops what the page reuses on purpose")
	}
	perPage := func(n int) float64 {
		mem := memTransport{}
		reg := map[string]registry.Entry{}
		var src strings.Builder
		for i := range n {
			id := fmt.Sprintf("f%d", i)
			mem["mem://"+id] = "<p>x</p>"
			reg[id] = registry.Entry{Endpoint: "mem://" + id}
			fmt.Fprintf(&src, "<micro-frontend id=%s/>", id)
		}
		tpl, err := template.Compile("t.html", []byte(src.String()))
		if err != nil {
			t.Fatal(err)
		}
		c := &stream.Composer{Fetch: aheadMem{mem}, Registry: registry.New(reg)}
		page := &stream.Page{Template: tpl, RequestID: "allocs"}
		r := httptest.NewRequest("GET", "/", nil)
		return testing.AllocsPerRun(50, func() { c.Serve(&discard{h: http.Header{}}, r, page) })
	}
	few, many := perPage(2), perPage(10)
	perSlot := (many - few) / 8
	t.Logf("a page of 2 slots: %.1f allocations, of 10: %.1f: %.2f a slot", few, many, perSlot)
	if perSlot > 7.5 {
		t.Errorf("%.2f allocations a slot sent ahead and read inline, want at most 7.5", perSlot)
	}
}

// A page's head is the first thing its visitor waits for: for a page with
// no required fragment, whose Server-Timing always says it waited for
// none, nothing is formatted for it (the header is the same every time),
// a page without async slots draws no key for their placeholders, and the
// header values every page has are shared, not made for each.
func TestAPageWithoutRequiredFragmentsFormatsNoTiming(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops what the page reuses on purpose")
	}
	tpl, err := template.Compile("t.html", []byte("<!doctype html><p>static</p>"))
	if err != nil {
		t.Fatal(err)
	}
	c := &stream.Composer{Fetch: aheadMem{memTransport{}}, Registry: registry.New(map[string]registry.Entry{})}
	page := &stream.Page{Template: tpl, RequestID: "allocs"}
	r := httptest.NewRequest("GET", "/", nil)
	w := &discard{h: http.Header{}}
	n := testing.AllocsPerRun(50, func() { w.h = http.Header{}; c.Serve(w, r, page) })
	if got := w.h.Get("Server-Timing"); got != `required;dur=0.0;desc="waiting for required fragments"` {
		t.Errorf("Server-Timing = %q", got)
	}
	t.Logf("%.1f allocations a static page", n)
	// 12 with the timing formatted and the key drawn on every page; 10
	// with the fixed headers' values made for each.
	if n > 6.5 {
		t.Errorf("%.1f allocations a static page, want at most 6.5", n)
	}
}
