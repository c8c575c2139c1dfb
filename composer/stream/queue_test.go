package stream_test

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/registry"
)

// A fragment that is not being written holds one chunk of its body, the
// queue's, and no more: the rest waits in its socket (the kernel's memory,
// not the process's) until the page writer reaches the slot. With a
// thousand pages of five big fragments, four of each page wait behind the
// first: a chunk read ahead into the pump's hand was 8 KiB each, 32 MB.
// The wait is the composer's, not the fragment's: it does not count
// against the fragment's deadline (breaker/waiting_test.go).
func TestAFragmentNotBeingWrittenHoldsOnlyItsQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.composer.ChunkSize = 16
	e.composer.QueueChunks = 1
	release := make(gate)
	e.register("a", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		if release.wait(r) {
			write(w, "[A]")
		}
	})})
	big := strings.Repeat("0123456789abcdef", 10) // ten chunks
	e.register("b", registry.Entry{Endpoint: fragmentServer(t, func(w http.ResponseWriter, r *http.Request) {
		write(w, big)
	})})
	_, body := open(t, e.page(`H<micro-frontend id=a/>-<micro-frontend id=b/>`, nil))
	// b's whole body has come; its pump has filled the queue and waits.
	for end := time.Now().Add(safety); !pumpWaits(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("b's pump never waited for the page writer")
		}
	}
	if got := e.composer.ChunksMade(); got != 1 {
		t.Errorf("a fragment waiting behind another, its queue of 1 full: %d chunks held, want 1", got)
	}
	close(release)
	if got := body.rest(); got != "H[A]-"+big {
		t.Errorf("page = %q", got)
	}
}

// pumpWaits reports whether a fragment's pump is parked on the page
// writer (its queue full), not reading.
func pumpWaits() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "(*Composer).pump") && (strings.Contains(g, "[select") || strings.Contains(g, "[chan send")) {
			return true
		}
	}
	return false
}
