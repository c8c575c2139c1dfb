package fetch

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// A request waiting for its answer on a connection it dialled keeps the
// stack of a fetch, not of a dial: dialling goes deep into the net
// package, and a goroutine's stack stays at the size it grew to while the
// answer is awaited (a thousand pages of five fragments are five thousand
// such goroutines). The dial runs on a goroutine of its own, which ends.
//
// Not parallel: it measures the process's stacks.
func TestAWaitingRequestKeepsNoDialStack(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's frames are larger")
	}
	const n = 200
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var held []net.Conn // accepted and never answered: no goroutine each
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	h := NewHTTP()
	defer h.Close()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.StackInuse
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each request a connection of its own: each dials.
			_, err := h.Fetch(ctx, &Request{Endpoint: "http://" + l.Addr().String() + "/", RawQuery: "i=" + string(rune('a'+i%26)), Header: http.Header{"Cookie": {"personal"}}})
			if err == nil {
				t.Error("an answer from a server that gives none")
			}
		})
	}
	for end := time.Now().Add(10 * time.Second); waitingInExchange() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d requests waiting for their answer, not %d within 10 s", waitingInExchange(), n)
		}
	}
	runtime.GC() // the stacks of goroutines that ended go back
	runtime.ReadMemStats(&ms)
	per := (int64(ms.StackInuse) - int64(before)) / n
	cancel()
	wg.Wait()
	// Stacks come in powers of two: a fetch's fits 4 KiB, a dial's
	// needs 8.
	if per > 6<<10 {
		t.Errorf("%d requests waiting for their answers on connections they dialled: %d bytes of stack each, want a fetch's 4 KiB, not a dial's 8", n, per)
	}
}
