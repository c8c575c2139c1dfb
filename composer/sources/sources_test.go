package sources

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Each wait of the refresh loop is COMPOSER_REFRESH shortened by up to
// 20 %, from the injected random number: computed, not timed.
func TestRefreshWaitIsJittered(t *testing.T) {
	t.Parallel()
	for r, want := range map[float64]time.Duration{0: 30 * time.Second, 0.25: 28500 * time.Millisecond, 0.5: 27 * time.Second, 0.9999: 24*time.Second + 600*time.Microsecond} {
		s := &Sources{rand: func() float64 { return r }}
		if got := s.wait(30 * time.Second); got != want {
			t.Errorf("r=%v: wait %v, want %v", r, got, want)
		}
	}
	s := New(nil, nil, nil, nil, nil, "", nil, nil)
	for range 200 {
		if w := s.wait(30 * time.Second); w <= 24*time.Second || w > 30*time.Second {
			t.Fatalf("wait %v outside (24s, 30s]", w)
		}
	}
}

// composer_source_errors_total has both its series from the start, at 0,
// so that an alert on its increase sees the first failure.
func TestSourceErrorsExportedAtZero(t *testing.T) {
	metrics := prometheus.NewRegistry()
	New(slog.New(slog.DiscardHandler), nil, nil, nil, nil, "", nil, metrics)
	mfs, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "composer_source_errors_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	for _, source := range []string{"templates", "registry"} {
		if v, ok := got[source]; !ok || v != 0 {
			t.Errorf("composer_source_errors_total{source=%q}: %v, present %v; want 0, present", source, v, ok)
		}
	}
}
