package jitter

import (
	"testing"
	"time"
)

func TestShortenBounds(t *testing.T) {
	t.Parallel()
	d := 30 * time.Second
	for r, want := range map[float64]time.Duration{0: d, 0.5: 27 * time.Second, 1: 24 * time.Second, -3: d, 7: 24 * time.Second} {
		if got := Shorten(d, r); got != want {
			t.Errorf("Shorten(%v, %v) = %v, want %v", d, r, got, want)
		}
	}
	seen := map[time.Duration]bool{}
	for range 1000 {
		w := Shorten(d, Random())
		if w <= 24*time.Second || w > d {
			t.Fatalf("wait %v outside (24s, 30s]", w)
		}
		seen[w] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 1000: not jittered", len(seen))
	}
}
