package breaker_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/internal/logbuf"
	"github.com/ssr-mfe/composer/composer/internal/presendtest"
	"github.com/ssr-mfe/composer/composer/registry"
)

// presender is the bottom of a chain under test.
type presender = presendtest.Recorder

// newPresendEnv is newEnv with a presender, which says yes, below the
// breaker.
func newPresendEnv(t *testing.T, entries map[string]registry.Entry) (*env, *presender) {
	t.Helper()
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	p := presendtest.New(&fetch.Mux{HTTP: h, Override: h}, false)
	p.Answer.Store(true)
	e := &env{t: t, reg: registry.New(entries), log: &logbuf.Buffer{}, m: prometheus.NewRegistry()}
	e.tr = breaker.New(p, breaker.Options{
		Registry: e.reg,
		Log:      slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  e.m,
	})
	return e, p
}

func fragmentReq(id, endpoint string) *fetch.Request {
	return &fetch.Request{Endpoint: endpoint, Fragment: id, Header: http.Header{}}
}

// presend sends req ahead through e's breaker and checks that it reported
// want, that the bottom was asked (called) or not, and that the guard of
// req's fragment, its log and its gauge are as they were.
func (e *env) presend(p *presender, req *fetch.Request, want, called bool) {
	e.t.Helper()
	guard, logs, calls := breaker.Inspect(e.tr, req.Fragment, req.Version), e.log.String(), p.Calls()
	if got := e.tr.Presend(context.Background(), req); got != want {
		e.t.Errorf("Presend = %v, want %v", got, want)
	}
	if got := p.Calls() - calls; got != map[bool]int{false: 0, true: 1}[called] {
		e.t.Errorf("the bottom transport was asked %d times, want %v", got, called)
	}
	if after := breaker.Inspect(e.tr, req.Fragment, req.Version); after != guard {
		e.t.Errorf("Presend changed the guard:\nbefore: %s\nafter:  %s", guard, after)
	}
	if after := e.log.String(); after != logs {
		e.t.Errorf("Presend changed the breaker's state: it logged %q", strings.TrimPrefix(after, logs))
	}
}

// A closed breaker with a free slot lets the request go ahead: Presend
// reports the bottom's answer, makes no guard, takes no slot and counts
// nothing; the Fetch that follows is the one admitted.
func TestPresendPassesAClosedBreakerThrough(t *testing.T) {
	t.Parallel()
	s := newServer(t, ok)
	e, p := newPresendEnv(t, map[string]registry.Entry{"nav": {Endpoint: s.URL, MaxConcurrency: 1}})
	e.presend(p, fragmentReq("nav", s.URL), true, true) // no guard yet
	e.getN(1, "nav", "", s.URL, safety)
	e.presend(p, fragmentReq("nav", s.URL), true, true)
	p.Answer.Store(false)
	e.presend(p, fragmentReq("nav", s.URL), false, true)
	// Had Presend taken the one slot, this Fetch would be ErrFull.
	if _, err := e.get(context.Background(), "nav", "", s.URL, safety); err != nil {
		t.Fatalf("Fetch after Presend: %v", err)
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("the fragment got %d requests, want the 2 Fetches'", got)
	}
}

// A request without a Fragment, and an override, pass through as in
// Fetch, even beside an open breaker.
func TestPresendPassesUnguardedRequestsThrough(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e, p := newPresendEnv(t, map[string]registry.Entry{"nav": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	e.getN(breaker.DefaultConsecutiveFailures, "nav", "", s.URL, safety)
	e.wantState("nav", "", gobreaker.StateOpen)
	e.presend(p, fragmentReq("", s.URL), true, true)
	override := fragmentReq("nav", s.URL)
	override.Override = true
	e.presend(p, override, true, true)
}

// A full bulkhead would reject: nothing goes ahead.
func TestPresendSendsNothingBeyondTheBulkhead(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newServer(t, hold(release))
	e, p := newPresendEnv(t, map[string]registry.Entry{"recs": {Endpoint: s.URL, MaxConcurrency: 1}})
	done := make(chan error, 1)
	go func() {
		_, err := e.get(context.Background(), "recs", "", s.URL, safety)
		done <- err
	}()
	waitHits(t, s, 1)
	e.presend(p, fragmentReq("recs", s.URL), false, false)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.presend(p, fragmentReq("recs", s.URL), true, true)
}

// An open breaker would reject: nothing goes ahead, and the Fetch that
// follows is rejected as without Presend.
func TestPresendSendsNothingToAnOpenBreaker(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	e, p := newPresendEnv(t, map[string]registry.Entry{"nav": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: time.Minute}}})
	e.getN(breaker.DefaultConsecutiveFailures, "nav", "", s.URL, safety)
	e.wantState("nav", "", gobreaker.StateOpen)
	e.presend(p, fragmentReq("nav", s.URL), false, false)
	if _, err := e.get(context.Background(), "nav", "", s.URL, safety); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Fetch after Presend: %v, want ErrOpen", err)
	}
}

// A breaker whose open time is up is half-open at the next look: a probe
// is Fetch's to admit. Presend sends nothing, and neither moves the
// breaker to half-open (no log line) nor takes the probe: the Fetch that
// follows is the probe, and its success closes the breaker.
func TestPresendLeavesTheProbeToFetch(t *testing.T) {
	t.Parallel()
	s := newServer(t, status(500))
	const openFor = 50 * time.Millisecond
	e, p := newPresendEnv(t, map[string]registry.Entry{"nav": {Endpoint: s.URL, Breaker: registry.Breaker{OpenFor: openFor}}})
	e.getN(breaker.DefaultConsecutiveFailures, "nav", "", s.URL, safety)
	time.Sleep(2 * openFor) // the open time is up; gobreaker has not looked yet
	e.presend(p, fragmentReq("nav", s.URL), false, false)

	e.waitState("nav", "", gobreaker.StateHalfOpen) // looked at: half-open now
	e.presend(p, fragmentReq("nav", s.URL), false, false)
	s.set(ok)
	before := s.hits.Load()
	if _, err := e.get(context.Background(), "nav", "", s.URL, safety); err != nil {
		t.Fatalf("the probe after Presend: %v", err)
	}
	if got := s.hits.Load() - before; got != 1 {
		t.Errorf("the probe: %d requests reached the fragment, want 1", got)
	}
	e.wantState("nav", "", gobreaker.StateClosed)
	e.presend(p, fragmentReq("nav", s.URL), true, true)
}

// Above a transport that cannot send ahead, nothing is sent.
func TestPresendNeedsAPresenderBelow(t *testing.T) {
	t.Parallel()
	s := newServer(t, ok)
	h := fetch.NewHTTP()
	t.Cleanup(h.Close)
	tr := breaker.New(presendtest.Plain{Transport: &fetch.Mux{HTTP: h}}, breaker.Options{
		Registry: registry.New(map[string]registry.Entry{"nav": {Endpoint: s.URL}})})
	if tr.Presend(context.Background(), fragmentReq("nav", s.URL)) {
		t.Errorf("Presend = true above a transport that is not a Presender")
	}
}
