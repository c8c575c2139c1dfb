package breaker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
)

// getOverride fetches id as an override request to endpoint.
func (e *env) getOverride(id, endpoint string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	resp, err := e.tr.Fetch(ctx, &fetch.Request{Endpoint: endpoint, Fragment: id, Header: http.Header{}, Override: true})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.Status, err
}

// An override of a fragment whose breaker is open still reaches its
// endpoint: the breaker judges the fragment's endpoint, not a preview.
func TestOverridePassesAnOpenBreaker(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	preview := newServer(t, ok)
	e := newEnv(t, map[string]registry.Entry{"reviews": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	e.getN(breaker.DefaultMinRequests, "reviews", "", s.URL, safety)
	e.wantState("reviews", "", gobreaker.StateOpen)
	if code, err := e.getOverride("reviews", preview.URL); err != nil || code != 200 {
		t.Errorf("override while the breaker is open: %d %v", code, err)
	}
	if preview.hits.Load() != 1 {
		t.Errorf("the preview got %d requests, want 1", preview.hits.Load())
	}
	// And the fragment's breaker is as it was: still open.
	e.wantState("reviews", "", gobreaker.StateOpen)
	if _, err := e.get(context.Background(), "reviews", "", s.URL, safety); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("the fragment after an override: %v, want ErrOpen", err)
	}
}

// A failing override does not count towards the fragment's breaker.
func TestOverrideFailuresDoNotTrip(t *testing.T) {
	t.Parallel()
	s := newServer(t, ok)
	preview := newServer(t, status(500))
	e := newEnv(t, map[string]registry.Entry{"reviews": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	for range 3 * breaker.DefaultMinRequests {
		if code, _ := e.getOverride("reviews", preview.URL); code != 500 {
			t.Fatalf("override: status %d, want the preview's 500", code)
		}
	}
	e.wantState("reviews", "", gobreaker.StateClosed)
	if code, err := e.get(context.Background(), "reviews", "", s.URL, safety); err != nil || code != 200 {
		t.Errorf("the fragment after failing overrides: %d %v", code, err)
	}
}

// An override takes no bulkhead slot, is not refused by a full one, and
// leaves the fragment's bulkhead as it was.
func TestOverrideTakesNoBulkheadSlot(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newServer(t, hold(release))
	preview := newServer(t, hold(release))
	e := newEnv(t, map[string]registry.Entry{"reviews": {Endpoint: s.URL, MaxConcurrency: 1}})
	// The fragment's own request holds the one slot.
	own := make(chan error, 1)
	go func() { _, err := e.get(context.Background(), "reviews", "", s.URL, safety); own <- err }()
	waitHits(t, s, 1)
	// Overrides pass, held or not.
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := e.getOverride("reviews", preview.URL); done <- err }()
	}
	waitHits(t, preview, 2)
	// The slot is still taken: the fragment's next request is refused.
	if _, err := e.get(context.Background(), "reviews", "", s.URL, safety); !errors.Is(err, breaker.ErrFull) {
		t.Errorf("the fragment's second request while its slot is taken: %v, want ErrFull", err)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("override: %v", err)
		}
	}
	if err := <-own; err != nil {
		t.Errorf("the fragment's request: %v", err)
	}
}
