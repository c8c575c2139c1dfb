package ssmregistry_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssr-mfe/composer/composer/ssmregistry"
)

// With the refresh period known, FullRefresh is an upper bound: a full
// read is done at the refresh before the one that would pass its due
// time, never after it.
func TestFullRefreshIsAnUpperBoundBetweenRefreshes(t *testing.T) {
	t.Parallel()
	for _, every := range []time.Duration{4 * time.Minute, 3 * time.Minute, 7 * time.Minute, 10 * time.Minute, 11 * time.Minute} {
		w := newWorld(t, 0, true)
		w.reg = prometheus.NewRegistry()
		w.src = ssmregistry.NewWithOptions(w.client, "/ssr-mfe/", ssmregistry.Options{
			FullRefresh: 10 * time.Minute,
			Refresh:     every,
			Metrics:     w.reg,
			Now:         func() time.Time { return w.now },
			Rand:        func() float64 { return 0 },
		})
		lastFull := t0
		for i := range 20 {
			w.now = t0.Add(time.Duration(i) * every)
			before := w.fullReads()
			w.refresh(t)
			if w.fullReads() > before {
				if gap := w.now.Sub(lastFull); gap > max(10*time.Minute, every) { // refreshes rarer than it: each is full
					t.Errorf("refresh every %v: %v between full reads, more than the full refresh, 10m", every, gap)
				}
				lastFull = w.now
			}
		}
		if every <= 5*time.Minute && w.fullReads() >= 20 {
			t.Errorf("refresh every %v: every refresh was a full read", every)
		}
	}
}
