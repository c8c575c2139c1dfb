package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The compressor budget counts what a page's compressor holds while the
// page streams: the figures it counts are at least what the compressors
// hold once a page has gone through them, and light gzip holds nothing
// between flushes.
//
// Not parallel: it reads the process's heap.
func TestCompressorsHoldWhatTheBudgetCounts(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated")
	}
	part := strings.Repeat("<div class=\"card\"><h2>Item</h2><p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p></div>\n", 60)
	for _, c := range []struct {
		name string
		pool *sync.Pool
		most int64
	}{
		{"br", &brotliPool, brotliHeldBytes},
		{"gzip", &gzipPool, gzipHeldBytes},
		{"gzip_light", &lightPool, 16 << 10},
	} {
		const n = 40
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		held := make([]*pooled, n)
		for i := range held {
			e := c.pool.New().(*pooled)
			e.sink.w = io.Discard
			e.Reset(&e.sink)
			for range 3 { // a page's first bursts, each flushed: it now waits
				io.WriteString(e, part)
				if err := e.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			held[i] = e
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		runtime.KeepAlive(held)
		t.Logf("%s: %d KB held a page", c.name, per>>10)
		if per > c.most {
			t.Errorf("%s: a page's compressor holds %d KB, the budget counts %d", c.name, per>>10, c.most>>10)
		}
	}
}

// Light gzip decodes to what was written, whatever the writes' sizes and
// wherever the flushes fall, and each flush makes everything before it
// decodable.
func TestLightGzipRoundTrips(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var all []byte
	for range 2000 {
		all = append(all, "<p class=x>some text "...)
		all = strconv.AppendInt(all, rng.Int64N(1000), 10)
		all = append(all, "</p>\n"...)
	}
	for round := range 20 {
		var out bytes.Buffer
		e := lightPool.New().(*pooled)
		e.sink.w = &out
		e.Reset(&e.sink)
		var flushedUpTo int
		for rest := all; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN([]int{100, 5000, 200000}[round%3]))
			if _, err := e.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			if rng.IntN(3) == 0 {
				if err := e.Flush(); err != nil {
					t.Fatal(err)
				}
				flushedUpTo = len(all) - len(rest)
				// What is out so far decodes to everything flushed.
				zr, err := gzip.NewReader(bytes.NewReader(out.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(zr) // unexpected EOF: the stream goes on
				if !bytes.Equal(got, all[:flushedUpTo]) {
					t.Fatalf("round %d: after a flush, %d bytes decode, want %d", round, len(got), flushedUpTo)
				}
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(&out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, all) {
			t.Fatalf("round %d: %v, %d bytes, want %d", round, err, len(got), len(all))
		}
	}
}
